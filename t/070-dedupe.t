# vim:set ft= ts=4 sw=4 et fdm=marker:
# Replay protection (teachfloor_timestamp_tolerance) and exactly-once
# forwarding across Teachfloor's retries (teachfloor_dedupe), two workers.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;
use POSIX qw(strftime);

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

master_on();
workers(2);

sub ev {
    my ($n, $ts) = @_;
    $ts ||= '2025-10-07T15:30:00Z';
    return qq{{"event":"member.joined","timestamp":"$ts","data":{"n":$n}}};
}

sub typed {
    my ($id, $extra) = @_;
    return qq{{"id":"$id","type":"course.join","created_at":"2025-10-07T15:30:00.000000Z","data":{$extra}}};
}

# RFC 3339 for now + $delta seconds, in UTC or at an offset of $off hours
sub at {
    my ($delta, $off, $frac) = @_;
    my $t = time + $delta;
    if ($off) {
        my $s = strftime('%Y-%m-%dT%H:%M:%S', gmtime($t + $off * 3600));
        return $s . ($frac // '') . sprintf('%s%02d:00', $off < 0 ? '-' : '+', abs $off);
    }
    return strftime('%Y-%m-%dT%H:%M:%S', gmtime $t) . ($frac // '') . 'Z';
}

sub fwd { "upstream: POST /received\nsignature: " . sig($_[0]) . "\n" . $_[0] }

our $dup = qq{{"result":"duplicate"}\n};

our $Gate = <<'_EOC_';
    location = /wh {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://app/received;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->http_config) {
        $block->set_value('http_config', $UpstreamConfig . q{
    teachfloor_dedupe_zone zone=seen:1m;
});
    }
    if (!defined $block->config) {
        $block->set_value('config', $Gate);
    }
    my $req = $block->request;
    if (defined $req && !defined $block->more_headers) {
        my @h = map { (my $b = $_) =~ s/^[^\n]*\n//; TeachfloorTest::signed($b) }
                ref $req ? @$req : ($req);
        $block->set_value('more_headers', ref $req ? \@h : $h[0]);
    }
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: a copy sent after a delivery is answered 200 duplicate and not forwarded
--- request eval
[("POST /wh\n" . ::ev(1)) x 3]
--- error_code eval
[200, 200, 200]
--- response_body eval
[::fwd(::ev(1)), $::dup, $::dup]



=== TEST 2: one dedupe zone across both workers: four copies on four connections, one delivery
--- request eval
[("POST /wh\n" . ::ev(2)) x 4]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
[::fwd(::ev(2)), $::dup, $::dup, $::dup]



=== TEST 3: events of the event/timestamp shape are told apart by the digest of their bytes
--- request eval
["POST /wh\n" . ::ev(3), "POST /wh\n" . ::ev(4), "POST /wh\n" . ::ev(3)]
--- error_code eval
[200, 200, 200]
--- response_body eval
[::fwd(::ev(3)), ::fwd(::ev(4)), $::dup]



=== TEST 4: with an id, the same event serialised anew is still a duplicate
--- request eval
["POST /wh\n" . ::typed('evt_1', '"a":1,"b":2'), "POST /wh\n" . ::typed('evt_1', '"b":2, "a":1'),
 "POST /wh\n" . ::typed('evt_2', '"a":1,"b":2')]
--- error_code eval
[200, 200, 200]
--- response_body eval
[::fwd(::typed('evt_1', '"a":1,"b":2')), $::dup, ::fwd(::typed('evt_2', '"a":1,"b":2'))]



=== TEST 5: after an upstream 500 the mark is removed: the retry is forwarded
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_dedupe_zone zone=seen:1m;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/failing.sock;
        location / { return 500 "app failed\n"; }
    }
}
--- config eval
$::Gate . q{
    location = /first {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://unix:$TEST_NGINX_HTML_DIR/failing.sock:/;
    }
}
--- request eval
["POST /first\n" . ::ev(5), "POST /wh\n" . ::ev(5), "POST /wh\n" . ::ev(5)]
--- error_code eval
[500, 200, 200]
--- response_body eval
["app failed\n", ::fwd(::ev(5)), $::dup]



=== TEST 6: after a refused connection (502) the retry is forwarded
--- config eval
$::Gate . q{
    location = /first {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://unix:$TEST_NGINX_HTML_DIR/nobody-listens.sock:/;
    }
}
--- request eval
["POST /first\n" . ::ev(6), "POST /wh\n" . ::ev(6), "POST /wh\n" . ::ev(6)]
--- error_code eval
[502, 200, 200]
--- response_body_like eval
[qr/502 Bad Gateway/, qr/^upstream: POST/, qr/^\{"result":"duplicate"\}$/]



=== TEST 7: after an upstream timeout (504) the retry is forwarded
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_dedupe_zone zone=seen:1m;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/slow.sock;
        location / { echo_sleep 2; echo "late"; }
    }
}
--- config eval
$::Gate . q{
    location = /first {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_read_timeout        500ms;
        proxy_pass                http://unix:$TEST_NGINX_HTML_DIR/slow.sock:/;
    }
}
--- request eval
["POST /first\n" . ::ev(7), "POST /wh\n" . ::ev(7), "POST /wh\n" . ::ev(7)]
--- error_code eval
[504, 200, 200]
--- response_body_like eval
[qr/504 Gateway Time-out/, qr/^upstream: POST/, qr/^\{"result":"duplicate"\}$/]



=== TEST 8: $teachfloor_result is duplicate for a copy
--- config
    location = /wh {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        add_header                X-Result $teachfloor_result always;
        proxy_pass                http://app/received;
    }
--- request eval
[("POST /wh\n" . ::ev(8)) x 2]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Result: accepted", "X-Result: duplicate"]



=== TEST 9: a duplicate spends no rate-limit budget
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_dedupe_zone zone=seen:1m;
    teachfloor_limit_zone  all zone=total:1m rate=1r/m;
}
--- config
    location = /wh {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        teachfloor_limit          zone=total burst=1 nodelay;
        proxy_ignore_client_abort on;
        proxy_pass                http://app/received;
    }
--- request eval
["POST /wh\n" . ::ev(9), "POST /wh\n" . ::ev(9), "POST /wh\n" . ::ev(10)]
--- error_code eval
[200, 200, 200]
--- response_body eval
[::fwd(::ev(9)), $::dup, ::fwd(::ev(10))]



=== TEST 10: an event the rate limit refuses leaves no mark: its retry is limited, not "in_flight"
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_dedupe_zone zone=seen:1m;
    teachfloor_limit_zone  all zone=total:1m rate=1r/m;
}
--- config
    location = /wh {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        teachfloor_limit          zone=total;
        proxy_ignore_client_abort on;
        proxy_pass                http://app/received;
    }
--- request eval
["POST /wh\n" . ::ev(11), "POST /wh\n" . ::ev(12), "POST /wh\n" . ::ev(12)]
--- error_code eval
[200, 429, 429]



=== TEST 11: two gate nodes behind a front nginx hashing on the signature: retries land on one node and are deduped
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_dedupe_zone zone=node1:1m;
    teachfloor_dedupe_zone zone=node2:1m;

    upstream gates {
        hash $http_teachfloor_signature consistent;
        server unix:$TEST_NGINX_HTML_DIR/node1.sock;
        server unix:$TEST_NGINX_HTML_DIR/node2.sock;
    }

    server {
        listen unix:$TEST_NGINX_HTML_DIR/node1.sock;
        location = /wh {
            teachfloor_webhook        on;
            teachfloor_secret         whsec_test;
            teachfloor_dedupe         zone=node1;
            proxy_ignore_client_abort on;
            proxy_set_header          X-Node 1;
            proxy_pass                http://app/received;
        }
    }

    server {
        listen unix:$TEST_NGINX_HTML_DIR/node2.sock;
        location = /wh {
            teachfloor_webhook        on;
            teachfloor_secret         whsec_test;
            teachfloor_dedupe         zone=node2;
            proxy_ignore_client_abort on;
            proxy_set_header          X-Node 2;
            proxy_pass                http://app/received;
        }
    }
}
--- config
    location = /wh {
        proxy_pass http://gates;
    }
--- request eval
[map { ("POST /wh\n" . ::ev(100 + $_)) x 3 } 1 .. 6]
--- error_code eval
[(200) x 18]
--- response_body eval
[map { (::fwd(::ev(100 + $_)), $::dup, $::dup) } 1 .. 6]



=== TEST 12: tolerance: an event 30 s old passes a 5 min tolerance
--- config
    location = /wh {
        teachfloor_webhook             on;
        teachfloor_secret              whsec_test;
        teachfloor_timestamp_tolerance 5m;
        proxy_pass                     http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev(20, ::at(-30))
--- error_code: 200
--- response_body_like: ^upstream: POST



=== TEST 13: tolerance: an event 10 min old is refused 401 stale_timestamp
--- config
    location = /wh {
        teachfloor_webhook             on;
        teachfloor_secret              whsec_test;
        teachfloor_timestamp_tolerance 5m;
        proxy_pass                     http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev(21, ::at(-600))
--- error_code: 401
--- response_body
{"result":"stale_timestamp"}
--- error_log
teachfloor webhook stale_timestamp, event "member.joined"



=== TEST 14: tolerance: an event 10 min in the future is refused too
--- config
    location = /wh {
        teachfloor_webhook             on;
        teachfloor_secret              whsec_test;
        teachfloor_timestamp_tolerance 5m;
        proxy_pass                     http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev(22, ::at(600))
--- error_code: 401
--- response_body
{"result":"stale_timestamp"}



=== TEST 15: tolerance: the time at an offset (+05:00) with fractional seconds is the same instant
--- config
    location = /wh {
        teachfloor_webhook             on;
        teachfloor_secret              whsec_test;
        teachfloor_timestamp_tolerance 5m;
        proxy_pass                     http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev(23, ::at(-60, 5, '.123456'))
--- error_code: 200
--- response_body_like: ^upstream: POST



=== TEST 16: tolerance: the offset counts: today's UTC wall-clock time marked -08:00 is 8 h ahead, stale
--- config
    location = /wh {
        teachfloor_webhook             on;
        teachfloor_secret              whsec_test;
        teachfloor_timestamp_tolerance 5m;
        proxy_pass                     http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev(24, ::at(0) =~ s/Z$/-08:00/r)
--- error_code: 401
--- response_body
{"result":"stale_timestamp"}



=== TEST 17: tolerance off (the default): the 2025 sample passes
--- request eval
"POST /wh\n" . ::sample('member-joined')
--- error_code: 200
--- response_body_like: ^upstream: POST



=== TEST 18: $teachfloor_result is stale_timestamp
--- config
    location = /wh {
        teachfloor_webhook             on;
        teachfloor_secret              whsec_test;
        teachfloor_timestamp_tolerance 5m;
        add_header X-Result $teachfloor_result always;
        proxy_pass                     http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev(25, ::at(-600))
--- error_code: 401
--- response_headers
X-Result: stale_timestamp



=== TEST 19: nginx -t warns about a dedupe ttl shorter than the retry span
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_dedupe_zone zone=seen:1m ttl=60s;
}
--- request eval
"POST /wh\n" . ::ev(30)
--- error_code: 200
--- error_log eval
qr/\[warn\] .*dedupe ttl of 60 s is shorter than Teachfloor's retry span/



=== TEST 20: nginx -t warns about a tolerance shorter than the retry span
--- config
    location = /wh {
        teachfloor_webhook             on;
        teachfloor_secret              whsec_test;
        teachfloor_timestamp_tolerance 60s;
        proxy_pass                     http://app/received;
    }
--- request
GET /wh
--- error_code: 405
--- error_log eval
qr/\[warn\] .*"teachfloor_timestamp_tolerance" of 60 s in \S+:\d+ is shorter than Teachfloor's retry span/



=== TEST 21: nginx -t warns about a tolerance longer than the dedupe ttl
--- config
    location = /wh {
        teachfloor_webhook             on;
        teachfloor_secret              whsec_test;
        teachfloor_timestamp_tolerance 20m;
        teachfloor_dedupe              zone=seen;
        proxy_ignore_client_abort      on;
        proxy_pass                     http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev(32, ::at(0))
--- error_code: 200
--- error_log eval
qr/\[warn\] .*"teachfloor_timestamp_tolerance" of 1200 s in \S+:\d+ is longer than the ttl of dedupe zone "seen" \(600 s\)/



=== TEST 22: nginx -t warns about a dedupe gate without proxy_ignore_client_abort
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_dedupe  zone=seen;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev(33)
--- error_code: 200
--- error_log eval
qr/\[warn\] .*"teachfloor_dedupe" in \S+:\d+ without "proxy_ignore_client_abort on"/



=== TEST 23: no warning for a well-set gate
--- config
    location = /wh {
        teachfloor_webhook             on;
        teachfloor_secret              whsec_test;
        teachfloor_timestamp_tolerance 5m;
        teachfloor_dedupe              zone=seen;
        proxy_ignore_client_abort      on;
        proxy_pass                     http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev(34, ::at(0))
--- error_code: 200
--- no_error_log
[warn]



=== TEST 24: a dedupe zone that is never declared fails nginx -t
--- config
    location = /wh {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=nowhere;
        proxy_ignore_client_abort on;
        proxy_pass                http://app/received;
    }
--- must_die
--- error_log eval
qr/"teachfloor_dedupe" in .*nginx\.conf:\d+ uses zone "nowhere" that has no "teachfloor_dedupe_zone"/



=== TEST 25: ids whose digests share their first 4 bytes (SHA-256) are still told apart and deduped
--- request eval
["POST /wh\n" . ::typed('evt_9713', '"a":1'), "POST /wh\n" . ::typed('evt_36122', '"a":1'),
 "POST /wh\n" . ::typed('evt_36122', '"a":1'), "POST /wh\n" . ::typed('evt_9713', '"a":1')]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
[::fwd(::typed('evt_9713', '"a":1')), ::fwd(::typed('evt_36122', '"a":1')), $::dup, $::dup]



=== TEST 26: a mirror subrequest logged (log_subrequest on) does not settle the event with its own 500: the copy is still a duplicate
--- config
    location = /wh {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        mirror                    /mirror;
        proxy_pass                http://app/received;
    }
    location = /mirror {
        internal;
        log_subrequest on;
        return 500;
    }
--- request eval
[("POST /wh\n" . ::ev(26)) x 2]
--- error_code eval
[200, 200]
--- response_body eval
[::fwd(::ev(26)), $::dup]



=== TEST 27: per-tenant secrets: tenant A cannot spend tenant B's event id; B's genuine evt_1001 is forwarded, B's retry is a duplicate
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_dedupe_zone zone=seen:1m;
    map $uri $tsecret {
        /t/a  whsec_tenant_a;
        /t/b  whsec_tenant_b;
    }
}
--- config
    location /t/ {
        teachfloor_webhook        on;
        teachfloor_secret         $tsecret;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://app;
    }
--- request eval
["POST /t/a\n" . ::typed('evt_1001', '"who":"a"'), "POST /t/b\n" . ::typed('evt_1001', '"who":"b"'),
 "POST /t/b\n" . ::typed('evt_1001', '"who":"b"')]
--- more_headers eval
[TeachfloorTest::signed(::typed('evt_1001', '"who":"a"'), 'whsec_tenant_a'),
 TeachfloorTest::signed(::typed('evt_1001', '"who":"b"'), 'whsec_tenant_b'),
 TeachfloorTest::signed(::typed('evt_1001', '"who":"b"'), 'whsec_tenant_b')]
--- error_code eval
[200, 200, 200]
--- response_body eval
["upstream: POST /t/a\nsignature: " . ::sig(::typed('evt_1001', '"who":"a"'), 'whsec_tenant_a') . "\n" . ::typed('evt_1001', '"who":"a"'),
 "upstream: POST /t/b\nsignature: " . ::sig(::typed('evt_1001', '"who":"b"'), 'whsec_tenant_b') . "\n" . ::typed('evt_1001', '"who":"b"'),
 $::dup]



=== TEST 28: the dedupe key follows the secret's value, not its position: two gates listing the same secrets in another order share the event
--- config
    location = /x {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_old;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://app/received;
    }
    location = /y {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_secret         whsec_old;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://app/received;
    }
--- request eval
["POST /x\n" . ::typed('evt_2801', '"a":1'), "POST /y\n" . ::typed('evt_2801', '"a":1')]
--- error_code eval
[200, 200]
--- response_body eval
[::fwd(::typed('evt_2801', '"a":1')), $::dup]



=== TEST 29: a secret given through a variable scopes the key by its evaluated value: the same secret written out shares the event
--- config
    location = /wh {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://app/received;
    }
    location = /v {
        set                       $vs whsec_test;
        teachfloor_webhook        on;
        teachfloor_secret         $vs;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://app/received;
    }
--- request eval
["POST /wh\n" . ::typed('evt_2901', '"a":1'), "POST /v\n" . ::typed('evt_2901', '"a":1'),
 "POST /v\n" . ::typed('evt_2902', '"a":1'), "POST /wh\n" . ::typed('evt_2902', '"a":1')]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
[::fwd(::typed('evt_2901', '"a":1')), $::dup, ::fwd(::typed('evt_2902', '"a":1')), $::dup]



=== TEST 30: a full zone forgets its oldest events: after 800 more, of the first 15 some are forwarded again; the newest is still a duplicate; evictions are counted; 32 KB hold over 512 events (under 64 bytes each, the zone's own pages included)
A bucket of the zone holds 56 events and, when full, drops its oldest: the
zone (10 buckets here, 560 events) drops about its oldest, not exactly
them.  After 800 more events, each of the first 15 is still there only if
its bucket took fewer than 56 of them (p = 0.002): that none is gone has a
chance under 1e-20.
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_dedupe_zone zone=seen:32k;
}
--- config eval
$::Gate . q{
    keepalive_requests 3000;

    location = /metrics {
        teachfloor_metrics;
    }
}
--- pipelined_requests eval
[(map { "POST /wh\n" . ::ev(3000 + $_) } 1 .. 815),
 (map { "POST /wh\n" . ::ev(3000 + $_) } 1 .. 15),
 "POST /wh\n" . ::ev(3815), "GET /metrics"]
--- more_headers eval
[(map { TeachfloorTest::signed(::ev(3000 + $_)) } 1 .. 815),
 (map { TeachfloorTest::signed(::ev(3000 + $_)) } 1 .. 15),
 TeachfloorTest::signed(::ev(3815)), ""]
--- error_code eval
[(200) x 832]
--- response_body_like eval
[(map { qr/^\Q${\ ::fwd(::ev(3000 + $_))}\E\z/ } 1 .. 815),
 (map { qr/^(?:\Q${\ ::fwd(::ev(3000 + $_))}\E|\Q$::dup\E)\z/ } 1 .. 15),
 qr/^\Q$::dup\E\z/,
 qr/\nteachfloor_requests_total\{result="accepted"\} 8(?:1[6-9]|2\d|30)\n.*\nteachfloor_dedupe_zone_entries\{zone="seen"\} (?:51[3-9]|5[2-9]\d|[6-9]\d\d|[1-9]\d{3})\n.*\nteachfloor_dedupe_zone_evictions_total\{zone="seen"\} [1-9]\d*\n/s]



=== TEST 31: an event sent again after it expired is kept as a new one: in a zone full of expired events, its copy a moment later is a duplicate
Sent again newest first, the events still in the zone (each bucket's
oldest, just ahead of its hand) came before those already dropped, which
the hand then placed over them: once an expired event took its old place
again, and its next copy was forwarded again.
--- skip_eval: 1: $ENV{TEST_NGINX_USE_VALGRIND}
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_dedupe_zone zone=seen:32k ttl=3s;
}
--- config eval
$::Gate . q{
    keepalive_requests 3000;

    location = /sleep {
        echo_sleep 3.5;
        echo ok;
    }
}
--- pipelined_requests eval
[(map { "POST /wh\n" . ::ev(7000 + $_) } 1 .. 600),
 "GET /sleep",
 (map { "POST /wh\n" . ::ev(7000 + $_) } reverse 1 .. 140),
 (map { "POST /wh\n" . ::ev(7000 + $_) } 1 .. 140)]
--- more_headers eval
[(map { TeachfloorTest::signed(::ev(7000 + $_)) } 1 .. 600), "",
 (map { TeachfloorTest::signed(::ev(7000 + $_)) } reverse 1 .. 140),
 (map { TeachfloorTest::signed(::ev(7000 + $_)) } 1 .. 140)]
--- error_code eval
[(200) x 881]
--- response_body_like eval
[(map { qr/^\Q${\ ::fwd(::ev(7000 + $_))}\E\z/ } 1 .. 600), qr/^ok\n\z/,
 (map { qr/^\Q${\ ::fwd(::ev(7000 + $_))}\E\z/ } reverse 1 .. 140),
 (map { qr/^\Q$::dup\E\z/ } 1 .. 140)]
--- timeout: 60
