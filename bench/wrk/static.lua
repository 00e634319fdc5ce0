-- the HTTP limit: the same nginx answering return 200, sent a POST of a
-- fixed ~150-byte JSON body, built per request as the endpoints' are
path = "/static"

local fixed = '{"group_id":"benchmark-group-0042","email":'
    .. '"someone.with.a.long.name@example.com","note":"a fixed body of '
    .. 'about one hundred and fifty bytes, x"}'

function body(n)
    return fixed
end

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "lib.lua")
