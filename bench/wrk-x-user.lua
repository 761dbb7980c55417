-- wrk script of the lb-* scenarios: every request carries `x-user: user-<n>`, n cycling 1..count,
-- so that a consistent-hash balancer (gateway `hashOn: "header:x-user"`, nginx
-- `hash $http_x_user consistent`) spreads the keys over its targets. Used for every contender of
-- those scenarios (and by the other lb-* scenarios, so they send the same requests).
--
-- wrk sends one fixed request unless the script defines request(). Formatting a request per call
-- (wrk.format) would cost the load generator a few µs a request; the `count` requests are built
-- once per thread in init() and request() only returns the next one.
--
-- Standalone:  wrk -t1 -c64 -d10s -s bench/wrk-x-user.lua http://127.0.0.1:8080/ -- 1000 x-user
-- The load suite prepends `bench_key_header = { name = "x-user", count = 1000 }` (and its
-- wrk.method / wrk.headers / done()) to this file instead of passing arguments.

local requests = {}
local count = 0
local i = 0

function init(args)
  local cfg = bench_key_header or {}
  count = tonumber(args[1]) or cfg.count or 1000
  local name = args[2] or cfg.name or "x-user"
  for n = 1, count do
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers[name] = "user-" .. n
    requests[n] = wrk.format(nil, nil, headers)
  end
end

function request()
  i = i % count + 1
  return requests[i]
end
