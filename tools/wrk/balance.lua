dofile((os.getenv("WRK_DIR") or "tools/wrk") .. "/common.lua")
request = function()
  return wrk.format("GET", "/users/" .. math.random(1, users) .. "/points")
end
