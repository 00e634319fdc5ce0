-- lib.lua: what every endpoint script shares.  An endpoint script sets
-- `path` and `body(n)` (n counts this thread's requests from 1), then
-- loads this file.
--
-- Environment:
--   BENCH_DATA        directory of the seed's exported lists
--   BENCH_THREADS     wrk's -t, so that threads can interleave a list
--   BENCH_NONCE       unique per wrk run, for values that must be new
--   BENCH_STOP_AFTER  stop after this many responses per thread, then
--                     interrupt wrk so that it does not sleep out -d
--
-- done() prints one line for bench/run.sh to parse:
--   BENCH_RESULT requests=.. duration_us=.. p50_us=.. p99_us=.. ...

local data = os.getenv("BENCH_DATA") or "."
local stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "0")

nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
connections = tonumber(os.getenv("BENCH_CONNECTIONS") or "1")
nonce = os.getenv("BENCH_NONCE") or "0"

local next_tid = 0

function setup(thread)
    thread:set("tid", next_tid)
    next_tid = next_tid + 1
end


function lines(name)
    local t = {}

    for l in io.lines(data .. "/" .. name) do
        t[#t + 1] = l
    end

    return t
end


local n = 0

function init(args)
    math.randomseed(os.time() * 100 + (tid or 0))
    wrk.method = "POST"
    wrk.path = path
    wrk.headers["Content-Type"] = "application/json"

    if prepare then
        prepare()
    end
end


function request()
    n = n + 1
    return wrk.format(nil, nil, nil, body(n))
end


if stop_after > 0 then
    local seen = 0

    function response(status, headers, b)
        seen = seen + 1

        if seen == stop_after then
            local f = io.open("/proc/self/stat")
            local pid = f:read("*l"):match("^(%d+)")
            f:close()
            -- wrk's main thread sleeps for -d and SIGINT ends that sleep,
            -- if it reaches main: send it once this thread has ended
            os.execute("(sleep 0.2; kill -INT " .. pid .. ") &")
            wrk.thread:stop()
        end
    end
end


-- wrk corrects its latencies for coordinated omission before done() sees
-- them (stats_correct() in its wrk.c and stats.c): with e the mean time
-- between two requests of one connection, every latency n of at least 2e
-- is also counted at n - e, n - 2e, ... while above e.  pgbench logs only
-- what it measured, so the p50 and p99 compared with it must be wrk's
-- measured ones.  measured() takes the made-up counts out again, from the
-- highest latency down, reading wrk's histogram (a stats struct of four
-- uint64_t, then one counter per microsecond) through LuaJIT's FFI.
-- It returns nil where the histogram does not look as expected.

local ffi = require("ffi")

local function measured(latency, e)
    local ok, s = pcall(ffi.cast, "uint64_t **", latency)
    if not ok then
        return nil
    end

    local h = s[0]
    local min, max = tonumber(h[2]), tonumber(h[3])
    if min ~= latency.min or max ~= latency.max or max < min then
        return nil
    end

    local data = h + 4
    local raw = ffi.new("double[?]", max - min + 1)
    local above = ffi.new("double[?]", e > 0 and e or 1)
    local total = 0

    for n = max, min, -1 do
        local c = tonumber(data[n])
        if e > 0 and n > e then
            local r = n % e
            c = c - above[r]
            above[r] = above[r] + c
        end
        if c < 0 then
            return nil
        end
        raw[n - min] = c
        total = total + c
    end

    -- the same rank as wrk's stats_percentile()
    local function percentile(p)
        local rank = math.floor(p / 100 * total + 1)
        local seen = 0
        for n = min, max do
            seen = seen + raw[n - min]
            if seen >= rank then
                return n
            end
        end
        return max
    end

    return total, percentile(50), percentile(99)
end


function done(summary, latency, requests)
    local err = summary.errors
    local per = math.floor(summary.requests / connections)
    local interval = per > 0 and math.floor(summary.duration / per) or 0
    local n, p50, p99 = measured(latency, interval)

    if n == nil then
        n, p50, p99 = -1, latency:percentile(50), latency:percentile(99)
    end

    io.write(string.format(
        "BENCH_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d "
        .. "p99_corrected_us=%d measured=%d non2xx=%d socket_errors=%d\n",
        summary.requests, summary.duration, p50, p99,
        latency:percentile(99), n,
        err.status, err.connect + err.read + err.write + err.timeout))
end
