-- Shared by the wrk scripts. Every wrk thread gets an id (tid, 1..WRK_THREADS) and its own seed,
-- derived from BENCH_SEED, the thread and BENCH_RUN (tools/http-benchmark numbers its runs), so
-- threads and runs never replay the same sequence of users. Users are uniform over 1..BENCH_USERS.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

json = { ["Content-Type"] = "application/json" }
users = tonumber(os.getenv("BENCH_USERS") or "100000")
seed = tonumber(os.getenv("BENCH_SEED") or "42")
run = tonumber(os.getenv("BENCH_RUN") or "0")
wrk_threads = tonumber(os.getenv("WRK_THREADS") or "2")

function init(args)
  math.randomseed(seed * 1000003 + run * 1009 + tid)
  if init_thread then init_thread(args) end
end

-- Sums a per-thread counter after the run (done() runs in the main Lua state).
function thread_total(name)
  local total = 0
  for _, t in ipairs(threads) do total = total + (tonumber(t:get(name)) or 0) end
  return total
end

-- A random user, uniform over 1..users.
function random_user()
  return math.random(1, users)
end

-- Three distinct random products out of 100, as order lines.
function three_products()
  local a = math.random(1, 100)
  local b = math.random(1, 99); if b >= a then b = b + 1 end
  local lo, hi = math.min(a, b), math.max(a, b)
  local c = math.random(1, 98); if c >= lo then c = c + 1 end; if c >= hi then c = c + 1 end
  return '[{"productId":' .. a .. ',"quantity":1},{"productId":' .. b .. ',"quantity":2},{"productId":' .. c .. ',"quantity":1}]'
end
