-- Read by code: a code picked at random from the seed's 100,000
path = "/invites/Invites/Read"

local codes

function prepare()
    codes = lines("codes.txt")
end

function body(n)
    return '{"code":"' .. codes[math.random(#codes)] .. '"}'
end

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "lib.lua")
