-- POST /api/orders as signed-in customers: every request has its own Idempotency-Key and a
-- cart of 1-3 lines drawn from the product ids in PRODUCT_IDS (comma-separated, env).
-- TOKENS (comma-separated session tokens, env) spreads the orders over several customers.
-- RUN_ID (env) makes the keys unique across runs (warm-up and measured run alike).
dofile((os.getenv("PERF_LUA_DIR") or "perf/scripts") .. "/report.lua")
local orders = dofile((os.getenv("PERF_LUA_DIR") or "perf/scripts") .. "/order_body.lua")

function init(args)
  orders.init()
  math.randomseed(os.time() * 1000 + thread_id)
end

function request()
  return orders.request()
end
