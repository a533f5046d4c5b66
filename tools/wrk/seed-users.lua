-- Seeding before the measured runs: every user 1..BENCH_USERS is charged 1,000,000 points and
-- handed the order coupon (coupon 2), exactly once. Thread tid takes users tid, tid + T, ...
-- (T = WRK_THREADS); once every answer of its share is in, it writes "<SEED_DONE_DIR>/<tid>"
-- holding its count of non-2xx answers, and tools/http-benchmark stops wrk when all are there.
-- Requests after the share are GET /seed-done (404), told apart by their status. So is each
-- thread's first request: wrk calls request() once on the first thread's state before the run to
-- check the script, and throws the request away.
dofile((os.getenv("WRK_DIR") or "tools/wrk") .. "/common.lua")
local sent, answered, failed, share = 0, 0, 0, 0
local primed = false
local done_dir = os.getenv("SEED_DONE_DIR") or "."

function init_thread()
  share = 0
  if users >= tid then share = math.floor((users - tid) / wrk_threads) + 1 end
end

request = function()
  if not primed then
    primed = true
    return wrk.format("GET", "/seed-done")
  end
  local user = tid + math.floor(sent / 2) * wrk_threads
  if user > users then return wrk.format("GET", "/seed-done") end
  sent = sent + 1
  if sent % 2 == 1 then
    return wrk.format("POST", "/users/" .. user .. "/points/charge", json, '{"amount":1000000}')
  end
  return wrk.format("POST", "/coupons/2/issue", json, '{"userId":' .. user .. '}')
end

response = function(status, headers, body)
  if status == 404 then return end
  answered = answered + 1
  if status >= 300 then failed = failed + 1 end
  if answered == 2 * share then
    local f = io.open(done_dir .. "/" .. tid, "w")
    f:write(failed .. "\n")
    f:close()
  end
end
