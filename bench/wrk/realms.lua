-- wrk script for Keycloak holding many realms (bench/run.sh,
-- keycloak_realms): bench.lua (counting, the BENCH_JSON line), but every
-- request goes to a realm picked at random per request from
-- BENCH_REALM_PATHS: one line per realm, the path of its token endpoint
-- (run.sh writes it). Every realm has the same client and user, so the
-- Authorization header (BENCH_AUTH) and the form body (BENCH_BODY) are the
-- same everywhere. The requests are formatted once per thread in init(), so
-- picking one costs a random number.

dofile((os.getenv("BENCH_LUA_DIR") or "bench/wrk") .. "/bench.lua")

local base_init = init
local requests = {}

function init(args)
  base_init(args)
  local path = assert(os.getenv("BENCH_REALM_PATHS"), "BENCH_REALM_PATHS is not set")
  local body = os.getenv("BENCH_BODY") or ""
  for line in io.lines(path) do
    if #line > 0 then
      table.insert(requests, wrk.format("POST", line, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Accept"] = "application/json",
        ["Authorization"] = os.getenv("BENCH_AUTH"),
      }, body))
    end
  end
  assert(#requests > 0, "no requests in " .. path)
  math.randomseed(os.time() * 1000 + index)
end

function request()
  return requests[math.random(#requests)]
end
