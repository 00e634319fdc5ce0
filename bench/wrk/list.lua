-- List by group: one of the seed's 1,000 groups, 100 invites each
path = "/invites/Invites/List"

function body(n)
    return '{"group_id":"' .. math.random(1, 1000) .. '"}'
end

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "lib.lua")
