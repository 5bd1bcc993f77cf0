-- The wrk script of the benchmark (bench/wrk.py writes its request file and reads its output).
--
-- Environment:
--   BENCH_WRK_REQUESTS  the request file: records "METHOD PATH NHEADERS BODYLEN\n",
--                       NHEADERS "Name: value\n" lines, then BODYLEN bytes of body
--   BENCH_WRK_ORDER     "random": every request a uniformly drawn record (ids, bodies);
--                       "once": each record at most once, thread t taking t, t+T, ...
--                       (bundles whose conditional creates must find nothing), and the
--                       thread stops when its share is used up (reported as exhausted)
--   BENCH_WRK_RATE      requests/s per thread (0: as fast as the connections answer);
--                       with a rate each thread has one connection and latency is counted
--                       from the time a request was due (wrk2's correction for
--                       coordinated omission), read with LuaJIT's clock_gettime
--   BENCH_WRK_ENTRIES   >0: each 2xx answer must be a Bundle with that many 200/201 entries
--   BENCH_WRK_THREADS   the -t value (thread t takes its share of an "once" file)
-- Output (after wrk's own summary): lines "@@ key value" for bench/wrk.py.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now_ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
  return tonumber(now_ts.tv_sec) * 1e6 + tonumber(now_ts.tv_nsec) / 1e3
end

local threads = {}
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
  table.insert(threads, thread)
end

local function load_requests(path, first, step)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  local out, pos, index = {}, 1, 0
  while pos <= #data do
    local eol = data:find("\n", pos, true)
    local method, target, nheaders, length = data:sub(pos, eol - 1):match("^(%S+) (%S+) (%d+) (%d+)$")
    pos = eol + 1
    local headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    for _ = 1, tonumber(nheaders) do
      eol = data:find("\n", pos, true)
      local name, value = data:sub(pos, eol - 1):match("^([^:]+): (.*)$")
      headers[name] = value
      pos = eol + 1
    end
    local body = nil
    if tonumber(length) > 0 then body = data:sub(pos, pos + tonumber(length) - 1) end
    pos = pos + tonumber(length)
    index = index + 1
    if (index - first) % step == 0 then out[#out + 1] = wrk.format(method, target, headers, body) end
  end
  return out
end

function init(args)
  order = os.getenv("BENCH_WRK_ORDER") or "random"
  rate = tonumber(os.getenv("BENCH_WRK_RATE") or "0")
  entries = tonumber(os.getenv("BENCH_WRK_ENTRIES") or "0")
  local step = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
  if order == "once" then
    pool = load_requests(os.getenv("BENCH_WRK_REQUESTS"), tid, step)
  else
    pool = load_requests(os.getenv("BENCH_WRK_REQUESTS"), 1, 1)
  end
  math.randomseed(tid * 7919 + 17)
  sent, exhausted, invalid = 0, 0, 0
  statuses, samples = {}, {}
  latencies = {}
  due, started = 0, 0
end

if tonumber(os.getenv("BENCH_WRK_RATE") or "0") > 0 then
  -- wrk calls delay() before each request only when the script defines it. The wait is
  -- rounded down (wrk's timers count whole ms): early is corrected by the rate, late is not.
  function delay()
    if started == 0 then started = now_us() end
    due = started + sent * 1e6 / rate
    local wait = math.floor((due - now_us()) / 1000)
    if wait < 0 then return 0 end
    return wait
  end
end

function request()
  sent = sent + 1
  if rate > 0 then
    local t = now_us()
    if t > due then sent_at = due else sent_at = t end
  end
  if order == "once" then
    if sent > #pool then
      exhausted = 1
      wrk.thread:stop()
      return pool[#pool]
    end
    return pool[sent]
  end
  return pool[math.random(#pool)]
end

function response(status, headers, body)
  if rate > 0 then latencies[#latencies + 1] = now_us() - sent_at end
  local key = tostring(status)
  if entries > 0 and status < 300 then
    local _, found = body:gsub('"status"%s*:%s*"20[01]', "")
    if found ~= entries then
      key = "invalid"
      invalid = invalid + 1
    end
  end
  statuses[key] = (statuses[key] or 0) + 1
  if (status >= 400 or key == "invalid") and #samples < 5 then
    samples[#samples + 1] = key .. " " .. body:sub(1, 300):gsub("[%c]", " ")
  end
end

local function percentile(sorted, q)
  if #sorted == 0 then return 0 end
  local rank = math.max(1, math.min(#sorted, math.floor(q / 100 * #sorted + 0.5)))
  return sorted[rank]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("@@ requests %d\n@@ duration_us %d\n", summary.requests, summary.duration))
  io.write(string.format("@@ errors_connect %d\n@@ errors_read %d\n@@ errors_write %d\n", e.connect, e.read, e.write))
  io.write(string.format("@@ errors_status %d\n@@ errors_timeout %d\n", e.status, e.timeout))
  local merged, counted, exhausted_all, invalid_all = {}, {}, 0, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do counted[k] = (counted[k] or 0) + v end
    for _, s in ipairs(t:get("samples")) do io.write("@@ sample " .. s .. "\n") end
    for _, v in ipairs(t:get("latencies")) do merged[#merged + 1] = v end
    exhausted_all = exhausted_all + t:get("exhausted")
    invalid_all = invalid_all + t:get("invalid")
  end
  for k, v in pairs(counted) do io.write(string.format("@@ status %s %d\n", k, v)) end
  io.write(string.format("@@ exhausted %d\n@@ invalid %d\n", exhausted_all, invalid_all))
  if #merged > 0 then
    -- Constant rate: latency from the time each request was due.
    table.sort(merged)
    local sum = 0
    for _, v in ipairs(merged) do sum = sum + v end
    io.write("@@ latency_source due\n")
    for _, q in ipairs({ 50, 95, 99 }) do
      io.write(string.format("@@ p%d_us %.1f\n", q, percentile(merged, q)))
    end
    io.write(string.format("@@ max_us %.1f\n@@ mean_us %.1f\n", merged[#merged], sum / #merged))
  else
    io.write("@@ latency_source sent\n")
    for _, q in ipairs({ 50, 95, 99 }) do
      io.write(string.format("@@ p%d_us %.1f\n", q, latency:percentile(q)))
    end
    io.write(string.format("@@ max_us %.1f\n@@ mean_us %.1f\n", latency.max, latency.mean))
  end
end
