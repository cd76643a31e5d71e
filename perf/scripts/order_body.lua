-- One order request (shared by orders.lua and mixed.lua): a cart of 1-3 lines of 1-3 units
-- from PRODUCT_IDS, as one of the customers of TOKENS, with an Idempotency-Key unique to this
-- run (RUN_ID), thread and request.
local M = {}
local counter = 0
local products = {}
local tokens = {}
local run_id = os.getenv("RUN_ID") or tostring(os.time())

function M.init()
  for id in string.gmatch(os.getenv("PRODUCT_IDS") or "", "[^,]+") do products[#products + 1] = id end
  for token in string.gmatch(os.getenv("TOKENS") or "", "[^,]+") do tokens[#tokens + 1] = token end
  if #products == 0 or #tokens == 0 then error("PRODUCT_IDS and TOKENS must be set") end
end

function M.request()
  counter = counter + 1
  local lines = {}
  for i = 1, math.random(1, 3) do
    lines[i] = string.format('{"product_id":%s,"quantity":%d}', products[math.random(#products)], math.random(1, 3))
  end
  local body = '{"customer_name":"Load Test","customer_email":"load@example.com",' ..
    '"shipping_address":{"street":"1 Main St","city":"Edison","state":"NJ","zip":"08817"},' ..
    '"payment_method":"cash_on_delivery","items":[' .. table.concat(lines, ",") .. ']}'
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1],
    ["Idempotency-Key"] = string.format("perf-%s-%d-%d", run_id, thread_id, counter),
  }
  return wrk.format("POST", "/api/orders", headers, body)
end

return M
