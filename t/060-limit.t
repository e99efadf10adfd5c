# vim:set ft= ts=4 sw=4 et fdm=marker:
# Per-source rate limits in shared memory, with two workers: one budget per
# key across the workers, burst, nodelay, delay, Retry-After, dry run, and
# only verified, wanted events spend budget.  Log lines of refusals, dry runs
# and delays are asserted in 061-limit-reload.t, one request per block.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

master_on();
workers(2);

# a genuine event of tenant $org
sub ev {
    my ($org, $name) = @_;
    $name ||= 'member.joined';
    my $data = defined $org ? qq{{"organization":{"id":"$org"}}} : '{}';
    return qq{{"event":"$name","timestamp":"2025-10-07T15:30:00Z","data":$data}};
}

sub fwd { "upstream: POST /received\nsignature: " . sig($_[0]) . "\n" . $_[0] }

our $limited = qq{{"result":"rate_limited"}\n};

# "--- request eval" may give a list of bodies: each is POSTed to /wh on a
# connection of its own, correctly signed unless more_headers says otherwise
add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->http_config) {
        $block->set_value('http_config', $UpstreamConfig);
    }
    sign_requests($block);
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: separate budgets per key: a second event of tenant A is refused, tenant B still has room
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1r/m;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs;
        proxy_pass         http://app/received;
    }
--- request eval
["POST /wh\n" . ::ev('org_a'), "POST /wh\n" . ::ev('org_a'), "POST /wh\n" . ::ev('org_b')]
--- error_code eval
[200, 429, 200]
--- response_body eval
[::fwd(::ev('org_a')), $::limited, ::fwd(::ev('org_b'))]



=== TEST 2: Retry-After says in whole seconds when the key has room again (6r/m: 10 s)
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=6r/m;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs;
        proxy_pass         http://app/received;
    }
--- request eval
["POST /wh\n" . ::ev('org_a'), "POST /wh\n" . ::ev('org_a')]
--- error_code eval
[200, 429]
--- response_headers eval
["!Retry-After", "Retry-After: 10\nContent-Type: application/json"]
--- response_body eval
[::fwd(::ev('org_a')), $::limited]



=== TEST 3: teachfloor_limit_status sets the status of refused events
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1r/m;
}
--- config
    location = /wh {
        teachfloor_webhook      on;
        teachfloor_secret       whsec_test;
        teachfloor_limit        zone=orgs;
        teachfloor_limit_status 503;
        proxy_pass              http://app/received;
    }
--- request eval
["POST /wh\n" . ::ev('org_a'), "POST /wh\n" . ::ev('org_a')]
--- error_code eval
[200, 503]
--- response_body eval
[::fwd(::ev('org_a')), $::limited]



=== TEST 4: dry run: charged as enforcing would, forwarded at once, counted; an enforcing gate on the zone finds the budget spent
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1r/m;
}
--- config
    location = /dry {
        teachfloor_webhook       on;
        teachfloor_secret        whsec_test;
        teachfloor_limit         zone=orgs burst=2;
        teachfloor_limit_dry_run on;
        proxy_pass               http://app/received;
    }
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs burst=2 nodelay;
        proxy_pass         http://app/received;
    }
    location = /metrics {
        teachfloor_metrics;
    }
--- request eval
[("POST /dry\n" . ::ev('org_a')) x 4, "POST /wh\n" . ::ev('org_a'), "GET /metrics"]
--- error_code eval
[200, 200, 200, 200, 429, 200]
--- response_body_like eval
[(qr/\A\Q${\ ::fwd(::ev('org_a'))}\E\z/) x 4, qr/\A\Q$::limited\E\z/,
 qr/\{result="accepted"\} 4\n.*\{result="rate_limited"\} 1\n.*\{class="2xx"\} 4\n.*\{action="refused"\} 1\nteachfloor_rate_limit_dry_run_total\{action="delayed"\} 2\n/s]



=== TEST 5: burst with nodelay: three events pass at once, the fourth is refused
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1r/m;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs burst=2 nodelay;
        proxy_pass         http://app/received;
    }
--- request eval
[("POST /wh\n" . ::ev('org_a')) x 4]
--- error_code eval
[200, 200, 200, 429]
--- response_body eval
[(::fwd(::ev('org_a'))) x 3, $::limited]



=== TEST 6: burst without nodelay: the excess waits its turn and is delivered, none refused
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=10r/s;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs burst=3;
        proxy_pass         http://app/received;
    }
--- request eval
[("POST /wh\n" . ::ev('org_a')) x 4]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
[(::fwd(::ev('org_a'))) x 4]



=== TEST 7: two zones at once; an event one zone refuses spends nothing in the other
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1r/m;
    teachfloor_limit_zone all zone=total:1m rate=1r/m;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs;
        teachfloor_limit   zone=total burst=1 nodelay;
        proxy_pass         http://app/received;
    }
--- request eval
["POST /wh\n" . ::ev('org_a'), "POST /wh\n" . ::ev('org_a'),
 "POST /wh\n" . ::ev('org_b'), "POST /wh\n" . ::ev('org_c')]
--- error_code eval
[200, 429, 200, 429]
--- response_body eval
[::fwd(::ev('org_a')), $::limited, ::fwd(::ev('org_b')), $::limited]



=== TEST 8: forged, malformed, filtered and acknowledged test events spend no budget
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $binary_remote_addr zone=peers:1m rate=1r/m;
}
--- config
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret      whsec_test;
        teachfloor_events      member.* test.event;
        teachfloor_test_events ack;
        teachfloor_limit       zone=peers;
        proxy_pass             http://app/received;
    }
--- request eval
["POST /wh\n" . ::ev('org_a'), "POST /wh\n" . '{"event":', "POST /wh\n" . ::ev('org_a', 'course.updated'),
 "POST /wh\n" . ::sample('test-event'), "POST /wh\n" . ::ev('org_a')]
--- more_headers eval
[::signed(::ev('org_a'), 'whsec_wrong'), ::signed('{"event":'), ::signed(::ev('org_a', 'course.updated')),
 ::signed(::sample('test-event')), ::signed(::ev('org_a'))]
--- error_code eval
[401, 400, 200, 200, 200]
--- response_body eval
[qq{{"result":"invalid_signature"}\n}, qq{{"result":"malformed_json"}\n}, qq{{"result":"filtered"}\n},
 qq{{"result":"test_acknowledged"}\n}, ::fwd(::ev('org_a'))]



=== TEST 9: events whose key is empty (no organization) are not limited
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1r/m;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs;
        proxy_pass         http://app/received;
    }
--- request eval
[("POST /wh\n" . ::ev(undef)) x 3]
--- error_code eval
[200, 200, 200]
--- response_body eval
[(::fwd(::ev(undef))) x 3]



=== TEST 10: one budget across both workers: of six events on six connections, one passes
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1r/m;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs;
        proxy_pass         http://app/received;
    }
--- request eval
[("POST /wh\n" . ::ev('org_a')) x 6]
--- error_code eval
[200, 429, 429, 429, 429, 429]
--- response_body eval
[::fwd(::ev('org_a')), ($::limited) x 5]



=== TEST 11: $teachfloor_result is rate_limited for a refused event
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1r/m;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs;
        add_header         X-Result $teachfloor_result always;
        proxy_pass         http://app/received;
    }
--- request eval
["POST /wh\n" . ::ev('org_a'), "POST /wh\n" . ::ev('org_a')]
--- error_code eval
[200, 429]
--- response_headers eval
["X-Result: accepted", "X-Result: rate_limited"]
--- response_body eval
[::fwd(::ev('org_a')), $::limited]



=== TEST 12: nginx -t warns when burst and rate can delay an event past the 3 s delivery timeout
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1r/s;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs burst=5;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('org_a')
--- more_headers eval
::signed(::ev('org_a'))
--- error_code: 200
--- response_body eval
::fwd(::ev('org_a'))
--- error_log eval
qr/\[warn\] .*"teachfloor_limit zone=orgs burst=5" can delay an event by 5000 ms, past Teachfloor's 3 s delivery timeout/



=== TEST 13: no warning with nodelay
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1r/s;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs burst=5 nodelay;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('org_a')
--- more_headers eval
::signed(::ev('org_a'))
--- error_code: 200
--- response_body eval
::fwd(::ev('org_a'))
--- no_error_log
delivery timeout



=== TEST 14: a zone that is never declared fails nginx -t
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=nowhere;
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/"teachfloor_limit" in .*nginx\.conf:\d+ uses zone "nowhere" that has no "teachfloor_limit_zone"/



=== TEST 15: a limit status outside 400-599 fails nginx -t
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1r/s;
}
--- config
    location = /wh {
        teachfloor_webhook      on;
        teachfloor_secret       whsec_test;
        teachfloor_limit        zone=orgs;
        teachfloor_limit_status 200;
        proxy_pass              http://app/received;
    }
--- must_die
--- error_log eval
qr/value must be between 400 and 599/



=== TEST 16: a malformed rate fails nginx -t
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=fast;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs;
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/invalid rate "rate=fast"/



=== TEST 17: a refusal with the longest event name (256 bytes) and a very long key is logged cut short, and nothing breaks
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1r/m;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs;
        proxy_pass         http://app/received;
    }
--- request eval
[("POST /wh\n" . ::ev('o' x 3000, 'member.' . ('a' x 249))) x 2]
--- error_code eval
[200, 429]
--- response_body eval
[::fwd(::ev('o' x 3000, 'member.' . ('a' x 249))), $::limited]
--- no_error_log
[alert]
exited on signal



=== TEST 18: a key of one variable in braces, and a key of text and variables, each keep one budget per value
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone ${teachfloor_organization_id} zone=braced:1m rate=1r/m;
    teachfloor_limit_zone org-$teachfloor_organization_id/$teachfloor_event
                          zone=mixed:1m rate=1r/m;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=braced;
        proxy_pass         http://app/received;
    }
    location = /wh2 {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=mixed;
        proxy_pass         http://app/received;
    }
--- request eval
["POST /wh\n" . ::ev('org_a'), "POST /wh\n" . ::ev('org_a'),
 "POST /wh\n" . ::ev('org_b'),
 "POST /wh2\n" . ::ev('org_a'), "POST /wh2\n" . ::ev('org_a', 'member.left'),
 "POST /wh2\n" . ::ev('org_a')]
--- error_code eval
[200, 429, 200, 200, 200, 429]
--- response_body eval
[::fwd(::ev('org_a')), $::limited, ::fwd(::ev('org_b')),
 ::fwd(::ev('org_a')), ::fwd(::ev('org_a', 'member.left')), $::limited]



=== TEST 19: a regex capture as the key ($1) keeps one budget per captured value; a key variable that is not found limits nothing
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $1             zone=bysource:1m rate=1r/m;
    teachfloor_limit_zone $http_x_source zone=byheader:1m rate=1r/m;
}
--- config
    location ~ ^/wh/(\w+)$ {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=bysource;
        proxy_pass         http://app;
    }
    location = /nohdr {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=byheader;
        proxy_pass         http://app/received;
    }
--- request eval
["POST /wh/a\n" . ::ev('o'), "POST /wh/a\n" . ::ev('o'), "POST /wh/b\n" . ::ev('o'),
 "POST /nohdr\n" . ::ev('o'), "POST /nohdr\n" . ::ev('o')]
--- error_code eval
[200, 429, 200, 200, 200]
--- response_body_like eval
["^upstream: POST /wh/a\n", "rate_limited", "^upstream: POST /wh/b\n",
 "^upstream: POST /received\n", "^upstream: POST /received\n"]



=== TEST 20: Retry-After is the true wait rounded up to a whole second: 60 at 1r/m, 9 at 7r/m, 2 at 59r/m, 1 at 2r/s
--- http_config
    teachfloor_limit_zone $teachfloor_organization_id zone=m1:1m  rate=1r/m;
    teachfloor_limit_zone $teachfloor_organization_id zone=m7:1m  rate=7r/m;
    teachfloor_limit_zone $teachfloor_organization_id zone=m59:1m rate=59r/m;
    teachfloor_limit_zone $teachfloor_organization_id zone=s2:1m  rate=2r/s;
--- config eval
# no upstream: each pair is answered within one pass of the event loop, so no
# time passes between its two events (59r/m leaves 17 ms)
CORE::join '', map { qq{
    location = /$_ {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=$_;
        echo               forwarded;
    }
} } qw(m1 m7 m59 s2)
--- pipelined_requests eval
[map { ("POST /$_\n" . ::ev('org_a')) x 2 } qw(m1 m7 m59 s2)]
--- more_headers eval
[(::signed(::ev('org_a'))) x 8]
--- error_code eval
[(200, 429) x 4]
--- response_headers eval
[map { ("!Retry-After", "Retry-After: $_") } 60, 9, 2, 1]
--- response_body eval
[("forwarded\n", $::limited) x 4]



=== TEST 21: the delay warning is exact for r/m rates: none at 20r/m burst=1 (3000 ms), one at 19r/m (3157 ms)
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=m20:1m rate=20r/m;
    teachfloor_limit_zone $teachfloor_organization_id zone=m19:1m rate=19r/m;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=m20 burst=1;
        proxy_pass         http://app/received;
    }
    location = /wh19 {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=m19 burst=1;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('org_a')
--- more_headers eval
::signed(::ev('org_a'))
--- error_code: 200
--- response_body eval
::fwd(::ev('org_a'))
--- error_log eval
qr/\[warn\] .*"teachfloor_limit zone=m19 burst=1" can delay an event by 3157 ms/
--- no_error_log
zone=m20



=== TEST 22: rates over 1000000r/s and bursts over 1000000 fail nginx -t
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=fast:1m rate=1000001r/s;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=fast;
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/invalid rate "rate=1000001r\/s"/



=== TEST 23: ... a burst over 1000000
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1000000r/s;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs burst=1000001;
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/invalid burst value "burst=1000001"/
