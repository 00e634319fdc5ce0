-- the RSS run: every non-destructive path in turn, errors included (found,
-- not found, list of 100, repeat create, delete of nothing, bad JSON,
-- validation error, unknown endpoint)
local codes, ids

local kinds = {
    { "/invites/Invites/Read", function() return
        '{"code":"' .. codes[math.random(#codes)] .. '"}' end },
    { "/invites/Invites/Read", function() return
        '{"id":"' .. ids[math.random(#ids)] .. '"}' end },
    { "/invites/Invites/List", function() return
        '{"group_id":"' .. math.random(1, 1000) .. '"}' end },
    { "/invites/Invites/Create", function() return string.format(
        '{"group_id":"%d","email":"user%d@example.com"}',
        math.random(1, 1000), math.random(0, 99)) end },
    { "/invites/Invites/Read", function() return '{"code":"00000000"}' end },
    { "/invites/Invites/Delete", function() return
        '{"id":"00000000-0000-4000-8000-000000000000"}' end },
    { "/invites/Invites/Read", function() return '{"code":' end },
    { "/invites/Invites/Create", function() return
        '{"group_id":"1","email":"not-an-email"}' end },
    { "/invites/Invites/Nothing", function() return '{}' end },
}

path = "/invites/Invites/Read"

function prepare()
    codes = lines("codes.txt")
    ids = lines("ids.txt")
end

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "lib.lua")

-- replaces lib.lua's request(): the path changes with the kind
local m = 0

function request()
    m = m + 1
    local k = kinds[(m - 1) % #kinds + 1]
    return wrk.format(nil, k[1], nil, k[2]())
end
