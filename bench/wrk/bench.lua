-- wrk script for bench/run.sh. Configured through the environment:
--
--   BENCH_AUTH    value of the Authorization header (HTTP Basic client auth)
--   BENCH_MODE    "post" (default): POST BENCH_BODY to the URL, same request
--                 every time;
--                 "refresh": refresh_token grant. Every refresh rotates the
--                 refresh token, so each thread keeps a FIFO of live tokens:
--                 request() pops one, response() pushes the new one parsed
--                 from the JSON body. Thread n is seeded from the file
--                 BENCH_TOKENS.n (one refresh token per line), handed over
--                 with setup()/thread:set because each wrk thread has its
--                 own Lua state. Seed more tokens per thread than the thread
--                 has connections, or requests go out with a dead token
--                 (counted as "starved").
--                 "code": authorization-code round trips with a signed-in
--                 browser session: GET BENCH_AUTHORIZE (path and query, with
--                 the Cookie header BENCH_COOKIE) must redirect with a code;
--                 the thread queues that code and its next request redeems
--                 it at BENCH_TOKEN_PATH (client auth BENCH_AUTH, PKCE
--                 verifier BENCH_VERIFIER, redirect_uri BENCH_REDIRECT).
--                 wrk gives the script no connection identity, so the pairs
--                 are per thread: each connection sends a token request when
--                 a code is waiting, else an authorize request. One round
--                 trip = one token response 2xx ("roundtrips").
--   BENCH_BODY    form body for "post" mode.
--
-- done() prints one line "BENCH_JSON {...}" that bench/report.py parses:
-- requests/s, latency percentiles (microseconds), wrk's socket errors and
-- the count of non-2xx responses by status code (in "code" mode a redirect
-- with a code counts as success, one without as "unparsed").

local mode = os.getenv("BENCH_MODE") or "post"
local auth = os.getenv("BENCH_AUTH")

local threads = {}
local created = 0

function setup(thread)
  created = created + 1
  thread:set("index", created)
  table.insert(threads, thread)
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local headers = {}
local queue, head, tail = {}, 1, 0

local function push(tok)
  tail = tail + 1
  queue[tail] = tok
end

local function pop()
  if head > tail then return nil end
  local tok = queue[head]
  queue[head] = nil
  head = head + 1
  return tok
end

function init(args)
  ok = 0
  non2xx = 0
  statuses = {}
  starved = 0
  unparsed = 0
  seeded = 0
  roundtrips = 0

  headers["Content-Type"] = "application/x-www-form-urlencoded"
  headers["Accept"] = "application/json"
  if auth then headers["Authorization"] = auth end

  if mode == "refresh" then
    local prefix = assert(os.getenv("BENCH_TOKENS"), "BENCH_TOKENS is not set")
    local path = prefix .. "." .. index
    local f = assert(io.open(path, "r"), "cannot open " .. path)
    for line in f:lines() do
      if #line > 0 then
        push(line)
        seeded = seeded + 1
      end
    end
    f:close()
  elseif mode ~= "code" then
    wrk.method = "POST"
    wrk.body = os.getenv("BENCH_BODY") or ""
    for k, v in pairs(headers) do wrk.headers[k] = v end
  end
end

if mode == "refresh" then
  function request()
    local tok = pop()
    if not tok then
      starved = starved + 1
      tok = "starved"
    end
    return wrk.format("POST", nil, headers,
      "grant_type=refresh_token&refresh_token=" .. urlencode(tok))
  end
end

if mode == "code" then
  local authorize = assert(os.getenv("BENCH_AUTHORIZE"), "BENCH_AUTHORIZE is not set")
  local token_path = assert(os.getenv("BENCH_TOKEN_PATH"), "BENCH_TOKEN_PATH is not set")
  local redeem = "grant_type=authorization_code&redirect_uri=" ..
    urlencode(os.getenv("BENCH_REDIRECT") or "") ..
    "&code_verifier=" .. urlencode(os.getenv("BENCH_VERIFIER") or "") .. "&code="
  local browser = { Cookie = os.getenv("BENCH_COOKIE") or "" }

  function request()
    local code = pop()
    if code then
      return wrk.format("POST", token_path, headers, redeem .. urlencode(code))
    end
    return wrk.format("GET", authorize, browser)
  end
end

local function urldecode(s)
  return (s:gsub("%+", " "):gsub("%%(%x%x)", function(h)
    return string.char(tonumber(h, 16))
  end))
end

-- A redirect's code, whatever the case of the Location header's name.
local function code_of(hdrs)
  for k, v in pairs(hdrs) do
    if k:lower() == "location" then
      local code = v:match("[?&]code=([^&#]+)")
      return code and urldecode(code)
    end
  end
end

function response(status, hdrs, body)
  if mode == "code" and status >= 300 and status < 400 then
    local code = code_of(hdrs)
    if code then
      ok = ok + 1
      push(code)
    else
      unparsed = unparsed + 1
    end
  elseif status >= 200 and status < 300 then
    ok = ok + 1
    if mode == "refresh" then
      local rt = body and body:match('"refresh_token"%s*:%s*"([^"]+)"')
      if rt then push(rt) else unparsed = unparsed + 1 end
    elseif mode == "code" then
      roundtrips = roundtrips + 1
    end
  else
    non2xx = non2xx + 1
    local k = tostring(status)
    statuses[k] = (statuses[k] or 0) + 1
  end
end

function done(summary, latency, requests)
  local t = { ok = 0, non2xx = 0, starved = 0, unparsed = 0, seeded = 0, roundtrips = 0 }
  local codes = {}
  for _, th in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (th:get(k) or 0) end
    local s = th:get("statuses") or {}
    for code, n in pairs(s) do codes[code] = (codes[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(codes) do
    table.insert(parts, string.format('"%s":%d', code, n))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"mode":"%s","requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"rps":%.2f,"latency_us":{"mean":%.1f,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d},' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"status_errors":%d,' ..
    '"ok":%d,"non2xx":%d,"statuses":{%s},"starved":%d,"unparsed":%d,"seeded":%d,' ..
    '"roundtrips":%d,"roundtrips_per_s":%.2f}\n',
    mode, summary.requests, summary.duration, summary.bytes,
    summary.requests / (summary.duration / 1e6),
    latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status,
    t.ok, t.non2xx, table.concat(parts, ","), t.starved, t.unparsed, t.seeded,
    t.roundtrips, t.roundtrips / (summary.duration / 1e6)))
end
