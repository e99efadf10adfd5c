# vim:set ft= ts=4 sw=4 et fdm=marker:
# How a request reaches a gate: every gate it reaches after an internal
# redirect decides with its own secrets, subrequests are refused, a variable
# secret that comes out empty signs nothing.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

sub ev {
    my ($n) = @_;
    return qq{{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{"n":$n}}};
}

sub fwd {
    my ($body, $secret, $uri) = @_;
    return "upstream: POST " . ($uri // '/received') . "\nsignature: "
           . sig($body, $secret) . "\n" . $body;
}

our $Redirect = q{
    location = /a {
        teachfloor_webhook on;
        teachfloor_secret  whsec_A;
        proxy_pass         http://unix:$TEST_NGINX_HTML_DIR/nobody-listens.sock:/;
        error_page         502 = @b;
    }
};

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $UpstreamConfig)
        unless defined $block->http_config;
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: after error_page to a named gate with another secret, an event signed only for the first gate is refused, even when @b reads a variable first
--- config eval
$::Redirect . q{
    location @b {
        teachfloor_webhook on;
        teachfloor_secret  whsec_B;
        set                $ev $teachfloor_event;
        proxy_pass         http://app;
    }
}
--- request eval
"POST /a\n" . ::ev(1)
--- more_headers eval
TeachfloorTest::signed(::ev(1), 'whsec_A')
--- error_code: 401
--- response_body
{"result":"invalid_signature"}
--- error_log
teachfloor webhook invalid_signature



=== TEST 2: the same without the variable read: refused too
--- config eval
$::Redirect . q{
    location @b {
        teachfloor_webhook on;
        teachfloor_secret  whsec_B;
        proxy_pass         http://app;
    }
}
--- request eval
"POST /a\n" . ::ev(2)
--- more_headers eval
TeachfloorTest::signed(::ev(2), 'whsec_A')
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 3: a second gate that knows the secret verifies the event itself and forwards it; its variables show its own verdict
--- config eval
$::Redirect . q{
    location @b {
        teachfloor_webhook on;
        teachfloor_secret  whsec_B;
        teachfloor_secret  whsec_A;
        set                $ev $teachfloor_event;
        add_header         X-Secret $teachfloor_secret_id always;
        add_header         X-Early-Event $ev always;
        proxy_pass         http://app;
    }
}
--- request eval
"POST /a\n" . ::ev(3)
--- more_headers eval
TeachfloorTest::signed(::ev(3), 'whsec_A')
--- error_code: 200
--- response_headers
X-Secret: 2
X-Early-Event: member.joined
--- response_body eval
::fwd(::ev(3), 'whsec_A', '/a')



=== TEST 4: both gates share a dedupe zone: the first gate's failed delivery (502) does not hold the event in flight for the second
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_dedupe_zone zone=seen:1m;
}
--- config
    location = /a {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_A;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://unix:$TEST_NGINX_HTML_DIR/nobody-listens.sock:/;
        error_page                502 = @b;
    }
    location @b {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_A;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://app;
    }
--- request eval
["POST /a\n" . ::ev(4), "POST /a\n" . ::ev(4)]
--- more_headers eval
[TeachfloorTest::signed(::ev(4), 'whsec_A'), TeachfloorTest::signed(::ev(4), 'whsec_A')]
--- error_code eval
[200, 200]
--- response_body eval
[::fwd(::ev(4), 'whsec_A', '/a'), qq{{"result":"duplicate"}\n}]



=== TEST 5: a forged body mirrored into a gate location is refused there, never forwarded
--- config
    location = /public {
        mirror     /gated;
        proxy_pass http://app/received;
    }
    location = /gated {
        internal;
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://unix:$TEST_NGINX_HTML_DIR/mirror-target.sock:/;
    }
--- request eval
"POST /public\n" . ::ev(5)
--- more_headers
Teachfloor-Signature: 0000000000000000000000000000000000000000000000000000000000000000
--- error_code: 200
--- error_log
a gate does not serve subrequests ("/gated")
--- no_error_log
mirror-target.sock



=== TEST 6: a mirror in a gate location starts only after the verdict: a forged event is not mirrored
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        mirror             /copy;
        proxy_pass         http://app/received;
    }
    location = /copy {
        internal;
        proxy_pass http://unix:$TEST_NGINX_HTML_DIR/copy-target.sock:/;
    }
--- request eval
"POST /wh\n" . ::ev(6)
--- more_headers
Teachfloor-Signature: 0000000000000000000000000000000000000000000000000000000000000000
--- error_code: 401
--- response_body
{"result":"invalid_signature"}
--- no_error_log
copy-target.sock



=== TEST 7: ... and a genuine one is (the copy's failed connect is logged)
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        mirror             /copy;
        proxy_pass         http://app/received;
    }
    location = /copy {
        internal;
        proxy_pass http://unix:$TEST_NGINX_HTML_DIR/copy-target.sock:/;
    }
--- request eval
"POST /wh\n" . ::ev(7)
--- more_headers eval
TeachfloorTest::signed(::ev(7))
--- error_code: 200
--- response_body eval
::fwd(::ev(7))
--- error_log
copy-target.sock



=== TEST 8: a variable secret that comes out empty is skipped: a body signed with the empty key is refused
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  $http_x_tenant_secret;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev(8)
--- more_headers eval
TeachfloorTest::signed(::ev(8), '')
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 9: ... while the other secret still verifies
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  $http_x_tenant_secret;
        teachfloor_secret  whsec_test;
        add_header         X-Secret $teachfloor_secret_id always;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev(9)
--- more_headers eval
TeachfloorTest::signed(::ev(9))
--- error_code: 200
--- response_headers
X-Secret: 2
--- response_body eval
::fwd(::ev(9))



=== TEST 10: the documented multi-tenant gate: each tenant's budget is keyed on its route, so a tenant claiming another's organization spends only its own
--- http_config eval
$::UpstreamConfig . q{
    map $uri $tenant_secret {
        /webhooks/teachfloor/acme    whsec_acme;
        /webhooks/teachfloor/globex  whsec_globex;
    }
    teachfloor_limit_zone $uri zone=tenants:1m rate=1r/m;
}
--- config
    location /webhooks/teachfloor/ {
        teachfloor_webhook on;
        teachfloor_secret  $tenant_secret;
        teachfloor_limit   zone=tenants;
        proxy_set_header   X-Tenant-Route $uri;
        proxy_pass         http://app;
    }
--- request eval
my $claim = q{{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{"organization":{"id":"acme"}}}};
["POST /webhooks/teachfloor/globex\n" . $claim, "POST /webhooks/teachfloor/acme\n" . $claim,
 "POST /webhooks/teachfloor/globex\n" . $claim, "POST /webhooks/teachfloor/nobody\n" . $claim]
--- more_headers eval
my $claim = q{{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{"organization":{"id":"acme"}}}};
[TeachfloorTest::signed($claim, 'whsec_globex'), TeachfloorTest::signed($claim, 'whsec_acme'),
 TeachfloorTest::signed($claim, 'whsec_globex'), TeachfloorTest::signed($claim, 'whsec_globex')]
--- error_code eval
[200, 200, 429, 401]
--- response_body_like eval
[qr{^upstream: POST /webhooks/teachfloor/globex\n}, qr{^upstream: POST /webhooks/teachfloor/acme\n},
 qr/^\{"result":"rate_limited"\}$/, qr/^\{"result":"invalid_signature"\}$/]



=== TEST 11: an upstream that hands an accepted event on with X-Accel-Redirect to a gate sharing the dedupe zone: the second gate forwards it (the first answer never reached the sender)
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_dedupe_zone zone=seen:1m;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/accel.sock;
        location / {
            add_header X-Accel-Redirect @second;
            return 200 "handed on\n";
        }
    }
}
--- config
    location = /wh {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://unix:$TEST_NGINX_HTML_DIR/accel.sock:/;
    }
    location @second {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://app;
    }
--- request eval
"POST /wh\n" . q{{"id":"evt_accel","event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{}}}
--- more_headers eval
TeachfloorTest::signed(q{{"id":"evt_accel","event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{}}})
--- error_code: 200
--- response_body_like: ^upstream: POST /wh\n
