# Self-test: --- skip_eval, skip_nginx and skip_nginx2 skip the same blocks,
# with the same reasons and counts, under t/lib's runner and the real
# Test::Nginx (prove -I <test-nginx>/lib t/runner-selftest/005-skip.t).

use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

# the skipped tests, each with the reason the runner gave
my @skips = map { $_->{reason} =~ s/^\S+ //r }
            grep { $_->{type} eq 'skip' } Test::More->builder->details;
is_deeply(\@skips, [
    ('TEST 1: skip_eval true - skip_eval') x 2,
    ('TEST 3: skip_nginx matching - every nginx') x 3,
    ('TEST 5: skip_nginx2 with or - various reasons') x 2,
    'TEST 7: a skipped block does not start nginx - skip_eval',
    ('TEST 8: the version of TEST_NGINX_BINARY - nginx version >= 1.0.0') x 2,
], 'skipped tests and their reasons');

__DATA__

=== TEST 1: skip_eval true
--- skip_eval: 2: 1 + 1 == 2
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok



=== TEST 2: skip_eval false: the block runs
--- skip_eval: 2: $^O eq 'no such system'
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok



=== TEST 3: skip_nginx matching
--- skip_nginx: 3: >= 0.0.1: every nginx
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok



=== TEST 4: skip_nginx not matching: the block runs
--- skip_nginx: 2: < 0.0.1
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok



=== TEST 5: skip_nginx2 with or
--- skip_nginx2: 2: < 0.0.1 or >= 0.0.1
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok



=== TEST 6: skip_nginx2 with and: the block runs
--- skip_nginx2: 2: < 0.0.1 and >= 0.0.1
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok



=== TEST 7: a skipped block does not start nginx
--- skip_eval: 1: 1
--- config
    no_such_directive;
--- request
GET /t
--- response_body
ok



=== TEST 8: the version of TEST_NGINX_BINARY
--- skip_nginx: 2: >= 1.0.0
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
