-- Everyone at once for one coupon of limited quantity: a few 201, then 409 COUPON_SOLD_OUT.
dofile((os.getenv("WRK_DIR") or "tools/wrk") .. "/common.lua")
local n = 0
request = function()
  n = n + 1
  local user = 10000000 * tid + n
  return wrk.format("POST", "/coupons/1/issue", json, '{"userId":' .. user .. '}')
end
