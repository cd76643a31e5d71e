-- Shared by every perf script (and used alone for plain GETs): numbers each thread, and at the
-- end prints one line "PERF_JSON {...}" that perf/wrk.py parses, so no figure is scraped from
-- wrk's human-readable text. Latencies are in microseconds, straight from wrk's histogram.
--
-- With PERF_COUNT_STATUS=1 a response() callback also counts every status code: that is the
-- only way to tell 4xx from 5xx, but it costs wrk time per response, so only the scenarios that
-- need it (orders, the mix) turn it on.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

statuses = {}
if os.getenv("PERF_COUNT_STATUS") == "1" then
  function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

-- Reads one item per line (search paths, slugs, ...) from the file named by an env variable.
function perf_read_lines(variable)
  local items = {}
  local name = os.getenv(variable)
  if name == nil then error(variable .. " is not set") end
  local file = assert(io.open(name, "r"))
  for line in file:lines() do
    if line ~= "" then items[#items + 1] = line end
  end
  file:close()
  if #items == 0 then error(name .. " is empty") end
  return items
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  local codes = {}
  for status, count in pairs(totals) do
    codes[#codes + 1] = string.format('"%d":%d', status, count)
  end
  local e = summary.errors
  io.write(string.format(
    'PERF_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"max":%d,"mean":%.1f,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
    '"statuses":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    table.concat(codes, ",")))
end
