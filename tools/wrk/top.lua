-- Top products over 3 days. Nothing writes during this run, so after the first request every
-- answer comes from the ledger's per-position best-seller cache: a CACHED figure.
dofile((os.getenv("WRK_DIR") or "tools/wrk") .. "/common.lua")
request = function()
  return wrk.format("GET", "/products/top")
end
