-- Delete: every request an id of the delete pool (del_ids.txt, refilled
-- before each delete point) that no other request of the run deletes;
-- threads interleave through the list
path = "/invites/Invites/Delete"

local ids

function prepare()
    ids = lines("del_ids.txt")
end

function body(n)
    local i = ((n - 1) * nthreads + tid) % #ids + 1
    return '{"id":"' .. ids[i] .. '"}'
end

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "lib.lua")
