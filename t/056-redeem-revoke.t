# Redeem and Revoke: a pending invite becomes accepted or revoked in one
# conditional UPDATE; every other state has its own answer; of many
# concurrent Redeems of one code exactly one succeeds; Read never consumes.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

plan 'no_plan';

my $API = '/invites/Invites';
my $TIME = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

start_nginx(<<'CONF');
    location /invites/Invites/ { invites_api; invites_fields all; }
    location /v1/invites/ { invites_api; invites_fields all; }
CONF

sub call { return http('POST', "$API/$_[0]", $_[1]) }

sub create {
    my ($email, $extra) = @_;
    $extra //= "";
    my $r = call('Create', qq({"group_id":"rr","email":"$email"$extra}));
    return $r->{json}{invite};
}

sub error_of {
    my ($r) = @_;
    return join ' ', $r->{status}, $r->{json}{id} // '', $r->{json}{detail} // '';
}

# ---- Redeem by code, then every repeat is 409
my $inv = create('one@example.com', ',"metadata":{"k":"v"}');
is(call('Read', qq({"code":"$inv->{code}"}))->{json}{invite}{status}, 'pending',
   'Read is a pure lookup: still pending after it');
my $r = call('Redeem', qq({"code":"$inv->{code}"}));
is($r->{status}, 200, 'Redeem by code: 200');
my $acc = $r->{json}{invite};
is($acc->{status}, 'accepted', 'the invite is accepted');
like($acc->{accepted_at} // '', $TIME, 'accepted_at is set');
is_deeply([@$acc{qw(id group_id email code created_at)}, $acc->{metadata}],
          [@$inv{qw(id group_id email code created_at)}, {k => 'v'}],
          'the rest of the invite as it was');
like($r->{body}, qr/"status":"accepted","created_at":"[^"]+","accepted_at":"[^"]+","metadata":/,
     'accepted_at comes after created_at, before metadata');
is(error_of(call('Redeem', qq({"code":"$inv->{code}"}))),
   '409 ALREADY_ACCEPTED The invite has already been accepted', 'a second Redeem: 409');
is(error_of(call('Redeem', qq({"id":"$inv->{id}"}))),
   '409 ALREADY_ACCEPTED The invite has already been accepted', 'by id too');
is(call('Read', qq({"id":"$inv->{id}"}))->{json}{invite}{status}, 'accepted',
   'Read shows it accepted');

# ---- Redeem by id, id wins over code, email must match
my $two = create('Two@Example.com');
my $three = create('three@example.com');
$r = call('Redeem', qq({"id":"$two->{id}","code":"$three->{code}"}));
is($r->{json}{invite}{id}, $two->{id}, 'id wins over code');
is(call('Read', qq({"id":"$three->{id}"}))->{json}{invite}{status}, 'pending',
   'the invite of the code was left alone');
is(error_of(call('Redeem', qq({"code":"$three->{code}","email":"other\@example.com"}))),
   '404 NOT_FOUND Invite not found', 'an email that does not match: 404, as unknown');
is(call('Read', qq({"id":"$three->{id}"}))->{json}{invite}{status}, 'pending',
   'and nothing changed');
$r = call('Redeem', qq({"code":"$three->{code}","email":"THREE\@example.COM"}));
is($r->{json}{invite}{status}, 'accepted', 'the matching email, in any case: accepted');

# ---- unknown, missing, malformed
is(error_of(call('Redeem', '{"code":"99999999"}')), '404 NOT_FOUND Invite not found', 'unknown code: 404');
is(error_of(call('Redeem', '{"id":"3f1c9a2e-7b4d-4e8f-9a6b-5c2d1e0f9a8b"}')),
   '404 NOT_FOUND Invite not found', 'unknown id: 404');
is(error_of(call('Redeem', '{"id":"not-a-uuid"}')), '404 NOT_FOUND Invite not found',
   'an id that is no UUID: 404');
is(error_of(call('Redeem', '{}')),
   '400 ID_OR_CODE_REQUIRED An id or code is required to read an invite', 'neither: 400');
is(error_of(call('Redeem', '{"code":5}')), '400 BAD_REQUEST Field code must be a string',
   'a code that is not a string: 400');

# ---- revoked and expired invites cannot be redeemed
my $rev = create('rev@example.com');
$r = call('Revoke', qq({"id":"$rev->{id}"}));
is($r->{status}, 200, 'Revoke: 200');
is($r->{json}{invite}{status}, 'revoked', 'the invite is revoked');
like($r->{json}{invite}{revoked_at} // '', $TIME, 'revoked_at is set');
is(error_of(call('Redeem', qq({"code":"$rev->{code}"}))), '410 REVOKED The invite has been revoked',
   'Redeem of a revoked invite: 410 REVOKED');
my $again = call('Revoke', qq({"id":"$rev->{id}"}));
is($again->{status}, 200, 'revoking again: 200');
is($again->{body}, $r->{body}, 'and the invite unchanged');

my $old = create('old@example.com', ',"expires_in_days":1');
psql(qq{UPDATE invites SET expires_at = now() - interval '1 second' WHERE id = '$old->{id}'});
is(error_of(call('Redeem', qq({"code":"$old->{code}"}))), '410 EXPIRED The invite has expired',
   'Redeem of an expired invite: 410 EXPIRED');
$r = call('Revoke', qq({"id":"$old->{id}"}));
is($r->{json}{invite}{status}, 'revoked', 'an expired invite can be revoked');
like($r->{body}, qr/"created_at":"[^"]+","expires_at":"[^"]+","revoked_at":"[^"]+"\}\}$/,
     'expires_at, then revoked_at');

# ---- Revoke of accepted, unknown, missing
is(error_of(call('Revoke', qq({"id":"$inv->{id}"}))),
   '409 ALREADY_ACCEPTED The invite has already been accepted', 'Revoke of an accepted invite: 409');
is(error_of(call('Revoke', '{"id":"3f1c9a2e-7b4d-4e8f-9a6b-5c2d1e0f9a8b"}')),
   '404 NOT_FOUND Invite not found', 'Revoke of an unknown id: 404');
is(error_of(call('Revoke', '{"id":"nope"}')), '404 NOT_FOUND Invite not found',
   'Revoke of an id that is no UUID: 404');
is(error_of(call('Revoke', '{"code":"12345678"}')), '400 MISSING_ID Missing ID',
   'Revoke without an id: 400');

# ---- the endpoints are the last path segment, in any case
my $p = create('path@example.com');
$r = http('POST', '/v1/invites/redeem', qq({"code":"$p->{code}"}));
is($r->{json}{invite}{status}, 'accepted', '/v1/invites/redeem');
my $q = create('path2@example.com');
$r = http('POST', '/v1/invites/REVOKE', qq({"id":"$q->{id}"}));
is($r->{json}{invite}{status}, 'revoked', '/v1/invites/REVOKE');

# ---- 50 concurrent Redeems of one code: exactly one wins
my $race = create('race@example.com');
my @h = map { http_start('POST', "$API/Redeem", qq({"code":"$race->{code}"}), timeout => slow(20)) } 1 .. 50;
my @res = map { http_end($_) } @h;
my %by;
$by{$_->{status} // 'none'}++ for @res;
is($by{200}, 1, 'of 50 concurrent Redeems of one code, one is 200');
is($by{409}, 49, 'and 49 are 409 ALREADY_ACCEPTED')
    or diag(join ', ', map { "$_: $by{$_}" } sort keys %by);
is(scalar(grep { ($_->{json}{id} // '') eq 'ALREADY_ACCEPTED' } @res), 49, 'all 49 say ALREADY_ACCEPTED');
is(psql(qq{SELECT status FROM invites WHERE id = '$race->{id}'}), 'accepted', 'the row is accepted');

# ---- concurrent Revoke and Redeem of one invite: one of them wins, the other says so
my $both = create('both@example.com');
my $hr = http_start('POST', "$API/Redeem", qq({"code":"$both->{code}"}));
my $hv = http_start('POST', "$API/Revoke", qq({"id":"$both->{id}"}));
my ($a, $b) = (http_end($hr), http_end($hv));
my $final = psql(qq{SELECT status FROM invites WHERE id = '$both->{id}'});
if ($final eq 'accepted') {
    is("$a->{status} $b->{status}", '200 409', 'Redeem won: Revoke says ALREADY_ACCEPTED');
} else {
    is("$a->{status} $b->{status}", '410 200', 'Revoke won: Redeem says REVOKED');
}

like(error_log_text(), qr/^(?!.*\[(?:alert|crit|emerg)\]).*\z/s, 'no alert in the error log');
stop_nginx();
