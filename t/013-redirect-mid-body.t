# vim:set ft= ts=4 sw=4 et fdm=marker:
# A 413 raised while a gate is still reading a chunked body, sent on by
# error_page: nginx goes on reading the body in the new location, and the
# gate's body handler is called there once it is whole.  It must not decide
# for a location that is no longer the request's, and a gate reached this
# way refuses a body that was not read whole before it.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $E = q{{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{"n":1}}};
our $Sig = TeachfloorTest::sig($E);

our $Slow = q{
    server {
        listen unix:$TEST_NGINX_HTML_DIR/slow.sock;
        location / {
            echo_read_request_body;
            echo_sleep 1.5;
            echo "upstream: $request_method $request_uri len=$content_length";
            echo_request_body;
        }
    }
    upstream slow {
        server unix:$TEST_NGINX_HTML_DIR/slow.sock;
    }
};

sub packets {
    return [
        "POST /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . "Transfer-Encoding: chunked\r\nTeachfloor-Signature: $Sig\r\n\r\n"
        . sprintf("%x\r\n", length $E) . $E . "\r\n",
        "12c\r\n",
        (" " x 10),
        (" " x 290) . "\r\n0\r\n\r\n",
    ];
}

no_long_string();
run_tests();

__DATA__

=== TEST 1: error_page 413 to a location that is no gate: no crash when the rest of the body arrives there
--- http_config eval
$::UpstreamConfig . $::Slow
--- config
    location = /a {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        client_max_body_size 200;
        error_page 413 = @b;
        proxy_pass http://app;
    }
    location @b {
        proxy_ignore_client_abort on;
        proxy_pass http://slow;
    }
--- raw_request eval
::packets()
--- raw_request_middle_delay: 0.4
--- timeout: 6
--- response_body_like: ^upstream: POST /a len=75
--- no_error_log
[alert]
exited on signal



=== TEST 2: error_page 413 to a second gate: refused 400, the body is never forwarded
--- http_config eval
$::UpstreamConfig . $::Slow
--- config
    location = /a {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        client_max_body_size 200;
        error_page 413 = @b;
        proxy_pass http://app;
    }
    location @b {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_ignore_client_abort on;
        proxy_pass http://slow;
    }
--- raw_request eval
::packets()
--- raw_request_middle_delay: 0.4
--- timeout: 6
--- error_code: 400
--- response_body_like: 400 Bad Request
--- error_log
teachfloor webhook refused: the request was redirected here before its body was read whole
--- no_error_log
[alert]
exited on signal
upstream: POST



=== TEST 3: the same with a dedupe zone on both gates: no request count gone wrong
--- http_config eval
$::UpstreamConfig . $::Slow . q{
    teachfloor_dedupe_zone zone=seen:1m;
}
--- config
    location = /a {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_dedupe  zone=seen;
        proxy_ignore_client_abort on;
        client_max_body_size 200;
        error_page 413 = @b;
        proxy_pass http://app;
    }
    location @b {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_dedupe  zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass http://slow;
    }
--- raw_request eval
::packets()
--- raw_request_middle_delay: 0.4
--- timeout: 6
--- error_code: 400
--- response_body_like: 400 Bad Request
--- no_error_log
[alert]
exited on signal
