-- Balance reads of users drawn uniformly at random over 1..BENCH_USERS.
dofile((os.getenv("WRK_DIR") or "tools/wrk") .. "/common.lua")
request = function()
  return wrk.format("GET", "/users/" .. random_user() .. "/points")
end
