-- wrk script for bench/tenants.sh and Keycloak's realms in bench/run.sh:
-- bench.lua (counting, the BENCH_JSON line), but every request is one
-- tenant's, picked at random per request from BENCH_TENANT_REQUESTS: one
-- line per tenant, the Authorization header value, a TAB, the form body, and
-- optionally a TAB and the request's path (wrk's URL path otherwise). The
-- requests are formatted once per thread in init(), so picking one costs a
-- random number.

dofile((os.getenv("BENCH_LUA_DIR") or "bench/wrk") .. "/bench.lua")

local base_init = init
local requests = {}

function init(args)
  base_init(args)
  local path = assert(os.getenv("BENCH_TENANT_REQUESTS"), "BENCH_TENANT_REQUESTS is not set")
  for line in io.lines(path) do
    local auth, body = line:match("^([^\t]+)\t([^\t]*)")
    local target = line:match("^[^\t]+\t[^\t]*\t(.+)$")
    if auth then
      table.insert(requests, wrk.format("POST", target, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Accept"] = "application/json",
        ["Authorization"] = auth,
      }, body))
    end
  end
  assert(#requests > 0, "no requests in " .. path)
  math.randomseed(os.time() * 1000 + index)
end

function request()
  return requests[math.random(#requests)]
end
