-- Orders of 3 lines, half of them with a coupon (each user's coupon can be used once).
dofile((os.getenv("WRK_DIR") or "tools/wrk") .. "/common.lua")
local n = 0
request = function()
  n = n + 1
  local p = math.random(1, 97)
  local items = '[{"productId":' .. p .. ',"quantity":1},{"productId":' .. (p + 1) .. ',"quantity":2},{"productId":' .. (p + 2) .. ',"quantity":1}]'
  local body
  if n % 2 == 0 then
    local user = ((n / 2) * 2 + tid) % users + 1
    body = '{"userId":' .. user .. ',"items":' .. items .. ',"couponId":2}'
  else
    body = '{"userId":' .. math.random(1, users) .. ',"items":' .. items .. '}'
  end
  return wrk.format("POST", "/orders", json, body)
end
