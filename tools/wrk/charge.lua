-- Charges of users drawn uniformly at random over 1..BENCH_USERS.
dofile((os.getenv("WRK_DIR") or "tools/wrk") .. "/common.lua")
request = function()
  return wrk.format("POST", "/users/" .. random_user() .. "/points/charge", json, '{"amount":10000}')
end
