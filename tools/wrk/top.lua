dofile((os.getenv("WRK_DIR") or "tools/wrk") .. "/common.lua")
request = function()
  return wrk.format("GET", "/products/top")
end
