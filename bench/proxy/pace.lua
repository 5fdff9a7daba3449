-- wrk script: each connection waits a random time between requests,
-- uniform in [0, 2 * PACE_MS] ms, which holds the offered rate near
-- connections / PACE_MS (a fixed rate for wrk, which has no -R). Random, not
-- fixed: with one fixed pause the connections fire in step, and every
-- contender is measured on bursts of 16 requests arriving together.
-- Latency is wrk's own, per request.
local d = tonumber(os.getenv("PACE_MS") or "8")
math.randomseed(os.time())
function delay() return math.random(0, 2 * d) end
