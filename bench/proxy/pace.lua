-- wrk script: each connection waits PACE_MS between requests, which holds
-- the offered rate near connections / PACE_MS (a fixed rate for wrk, which
-- has no -R). Latency is wrk's own, per request.
local d = tonumber(os.getenv("PACE_MS") or "8")
function delay() return d end
