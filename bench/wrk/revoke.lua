-- Revoke: every request an id of the Revoke pool (rev_ids.txt, pending
-- again before each Revoke point) that no other request of the run
-- revokes; threads interleave through the list
path = "/invites/Invites/Revoke"

local ids

function prepare()
    ids = lines("rev_ids.txt")
end

function body(n)
    local i = ((n - 1) * nthreads + tid) % #ids + 1
    return '{"id":"' .. ids[i] .. '"}'
end

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "lib.lua")
