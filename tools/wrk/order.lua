-- Orders of 3 distinct random products out of 100, half of them with the order coupon (coupon 2).
-- Every user was charged and handed one coupon 2 (seed-users.lua). Orders without a coupon come
-- from users drawn uniformly at random. Orders with one come from users in random order, each at
-- most once (a coupon is used once): a fixed random permutation of the users is cut into
-- BENCH_ORDER_RUNS x WRK_THREADS slices, and run BENCH_ORDER_RUN's thread tid walks its own
-- slice. When a slice runs out, its orders go without a coupon, counted in "no-coupon orders".
dofile((os.getenv("WRK_DIR") or "tools/wrk") .. "/common.lua")
local n = 0
local slice = {}
local next_in_slice = 1
nocoupon = 0

function init_thread()
  -- The same permutation in every thread and run (seeded by BENCH_SEED alone), then this thread's seed.
  math.randomseed(seed)
  local perm = {}
  for i = 1, users do perm[i] = i end
  for i = users, 2, -1 do
    local j = math.random(1, i)
    perm[i], perm[j] = perm[j], perm[i]
  end
  local slots = tonumber(os.getenv("BENCH_ORDER_RUNS") or "2") * wrk_threads
  local slot = tonumber(os.getenv("BENCH_ORDER_RUN") or "0") * wrk_threads + tid - 1
  local size = math.floor(users / slots)
  for i = 1, size do slice[i] = perm[slot * size + i] end
  math.randomseed(seed * 1000003 + run * 1009 + tid)
end

request = function()
  n = n + 1
  local items = three_products()
  if n % 2 == 0 then
    local user = slice[next_in_slice]
    if user then
      next_in_slice = next_in_slice + 1
      return wrk.format("POST", "/orders", json, '{"userId":' .. user .. ',"items":' .. items .. ',"couponId":2}')
    end
    nocoupon = nocoupon + 1  -- read by done() through thread:get
  end
  return wrk.format("POST", "/orders", json, '{"userId":' .. random_user() .. ',"items":' .. items .. '}')
end

done = function(summary, latency, requests)
  local total = thread_total("nocoupon")
  if total > 0 then io.write("no-coupon orders: " .. total .. "\n") end
end
