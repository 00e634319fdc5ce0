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


function done(summary, latency, requests)
    local e = summary.errors

    io.write(string.format(
        "BENCH_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d "
        .. "non2xx=%d socket_errors=%d\n",
        summary.requests, summary.duration,
        latency:percentile(50), latency:percentile(99),
        e.status, e.connect + e.read + e.write + e.timeout))
end
