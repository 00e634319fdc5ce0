-- Redeem by code: every request a code of the Redeem pool
-- (redeem_codes.txt, pending again before each Redeem point) that no other
-- request of the run redeems; threads interleave through the list
path = "/invites/Invites/Redeem"

local codes

function prepare()
    codes = lines("redeem_codes.txt")
end

function body(n)
    local i = ((n - 1) * nthreads + tid) % #codes + 1
    return '{"code":"' .. codes[i] .. '"}'
end

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "lib.lua")
