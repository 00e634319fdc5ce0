-- Create again an invite the seed holds: group 1..1000 and email
-- user0..user99@example.com, every pair of which exists
path = "/invites/Invites/Create"

function body(n)
    return string.format('{"group_id":"%d","email":"user%d@example.com"}',
                         math.random(1, 1000), math.random(0, 99))
end

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "lib.lua")
