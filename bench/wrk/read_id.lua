-- Read by id: an id picked at random from the sample in ids.txt (the same
-- sample pgbench draws from; see run.sh)
path = "/invites/Invites/Read"

local ids

function prepare()
    ids = lines("ids.txt")
end

function body(n)
    return '{"id":"' .. ids[math.random(#ids)] .. '"}'
end

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "lib.lua")
