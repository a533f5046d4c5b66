-- A charge mix over many users.
dofile((os.getenv("WRK_DIR") or "tools/wrk") .. "/common.lua")
request = function()
  local user = math.random(1, users)
  return wrk.format("POST", "/users/" .. user .. "/points/charge", json, '{"amount":10000}')
end
