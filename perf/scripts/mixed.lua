-- The mixed storefront: 70% browsing (product lists, category filters, searches, categories:
-- the paths in BROWSE), 20% product pages (the slugs' paths in PRODUCTS), 5% orders as
-- customers (see order_body.lua), 5% admin (GET /api/admin/stats or /api/orders as ADMIN_TOKEN).
-- Each thread's first request is an order, then the dice decide: a one-second run on a busy machine
-- (the suite's quick run) may send only a few dozen requests, and the mix's order path and the cache
-- invalidations it causes must still be exercised; over a measured run it is a handful in thousands.
dofile((os.getenv("PERF_LUA_DIR") or "perf/scripts") .. "/report.lua")
local orders = dofile((os.getenv("PERF_LUA_DIR") or "perf/scripts") .. "/order_body.lua")

local browse = {}
local product_pages = {}
local admin_headers = {}
local admin_paths = { "/api/admin/stats", "/api/orders" }
local ordered = false

function init(args)
  browse = perf_read_lines("BROWSE")
  product_pages = perf_read_lines("PRODUCTS")
  admin_headers = { ["Authorization"] = "Bearer " .. (os.getenv("ADMIN_TOKEN") or "") }
  orders.init()
  math.randomseed(os.time() * 1000 + thread_id)
end

function request()
  if not ordered then
    ordered = true
    return orders.request()
  end
  local roll = math.random(100)
  if roll <= 70 then
    return wrk.format("GET", browse[math.random(#browse)])
  elseif roll <= 90 then
    return wrk.format("GET", product_pages[math.random(#product_pages)])
  elseif roll <= 95 then
    return orders.request()
  end
  return wrk.format("GET", admin_paths[math.random(#admin_paths)], admin_headers)
end
