-- Preparation for the order mix: hand coupon 2 to users 1..BENCH_USERS.
dofile((os.getenv("WRK_DIR") or "tools/wrk") .. "/common.lua")
local n = 0
request = function()
  n = n + 1
  local user = ((n * 2 + tid) % users) + 1
  return wrk.format("POST", "/coupons/2/issue", json, '{"userId":' .. user .. '}')
end
