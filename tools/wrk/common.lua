-- Shared by the wrk scripts: each wrk thread gets its own id so counters never collide.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

json = { ["Content-Type"] = "application/json" }
users = tonumber(os.getenv("BENCH_USERS") or "100000")
