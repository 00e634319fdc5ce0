-- Create a new invite: a group outside the seed's (1001..2000) and an email
-- no request has used (random prefix, so that the index inserts scatter as
-- in life; run nonce, thread and counter, so that it is unique)
path = "/invites/Invites/Create"

function body(n)
    return string.format(
        '{"group_id":"%d","email":"%08x.%s.%d.%d@example.com"}',
        math.random(1001, 2000), math.random(0, 0x7fffffff),
        nonce, tid, n)
end

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "lib.lua")
