-- Everyone at once for one coupon of limited quantity (coupon 1, 1,000): users drawn uniformly at
-- random over 1..BENCH_USERS; a few 201, then 409 COUPON_SOLD_OUT (or COUPON_ALREADY_ISSUED).
dofile((os.getenv("WRK_DIR") or "tools/wrk") .. "/common.lua")
request = function()
  return wrk.format("POST", "/coupons/1/issue", json, '{"userId":' .. random_user() .. '}')
end
