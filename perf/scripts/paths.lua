-- GET a random path from the file named by PATHS (one path per line): many search terms, many
-- slugs, so no single cached answer serves the whole run. The Authorization header, when any,
-- comes from wrk -H.
dofile((os.getenv("PERF_LUA_DIR") or "perf/scripts") .. "/report.lua")

local paths = {}

function init(args)
  paths = perf_read_lines("PATHS")
  math.randomseed(os.time() * 1000 + thread_id)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
