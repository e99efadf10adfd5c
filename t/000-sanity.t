# vim:set ft= ts=4 sw=4 et fdm=marker:
# The gate in its simplest form: loaded with load_module, a genuine event is
# forwarded byte for byte, anything else is answered at the edge.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $element = sample('element-completed');

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->http_config) {
        $block->set_value('http_config', $UpstreamConfig);
    }
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: a genuine event reaches the upstream byte for byte, signature header included
--- config
    location = /webhooks/teachfloor {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /webhooks/teachfloor\n" . $::element
--- more_headers eval
::signed($::element)
--- error_code: 200
--- response_body eval
"upstream: POST /received\nsignature: " . ::sig($::element) . "\n" . $::element
--- no_error_log
[warn]
[error]



=== TEST 2: a forged event is answered 401 and never forwarded
--- config
    location = /webhooks/teachfloor {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /webhooks/teachfloor\n" . $::element
--- more_headers eval
::signed($::element, 'whsec_wrong')
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body
{"result":"invalid_signature"}
--- error_log eval
qr/\[error\] .*teachfloor webhook invalid_signature: the body \(\d+ bytes\) matches no secret, client: 127\.0\.0\.1/
--- no_error_log
upstream: POST
whsec_test



=== TEST 3: teachfloor_webhook off leaves the location alone
--- config
    location = /webhooks/teachfloor {
        teachfloor_webhook off;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /webhooks/teachfloor\n" . $::element
--- error_code: 200
--- response_body eval
"upstream: POST /received\nsignature: \n" . $::element



=== TEST 4: other locations of the server are not gated
--- config
    teachfloor_secret whsec_test;
    location = /webhooks/teachfloor {
        teachfloor_webhook on;
        proxy_pass         http://app/received;
    }
    location = /other {
        proxy_pass http://app/other;
    }
--- request
POST /other
hello
--- error_code: 200
--- response_body eval
"upstream: POST /other\nsignature: \nhello"



=== TEST 5: nginx -t fails when a gate has no secret at any level
--- config
    location = /webhooks/teachfloor {
        teachfloor_webhook on;
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/"teachfloor_webhook" in \S+nginx\.conf:\d+ has no secret/



=== TEST 6: nginx -t fails when a gate has no content handler to forward to
--- config
    location = /webhooks/teachfloor {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
    }
--- must_die
--- error_log eval
qr/"teachfloor_webhook" in \S+nginx\.conf:\d+ needs a content handler in its location, such as "proxy_pass"/



=== TEST 7: teachfloor_webhook is a location directive only
--- config
    teachfloor_webhook on;
    location = /webhooks/teachfloor {
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/"teachfloor_webhook" directive is not allowed here/



=== TEST 8: an empty teachfloor_secret fails nginx -t
--- config
    location = /webhooks/teachfloor {
        teachfloor_webhook on;
        teachfloor_secret  "";
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/"teachfloor_secret" directive is empty/



=== TEST 9: an unknown teachfloor_log_level fails nginx -t
--- config
    location = /webhooks/teachfloor {
        teachfloor_webhook   on;
        teachfloor_secret    whsec_test;
        teachfloor_log_level debug;
        proxy_pass           http://app/received;
    }
--- must_die
--- error_log eval
qr/invalid value "debug"/



=== TEST 10: the gate works behind fastcgi_pass-style handlers too: grpc/uwsgi/scgi set a content handler, so nginx -t passes with scgi_pass
--- config
    location = /webhooks/teachfloor {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        scgi_pass          unix:$TEST_NGINX_HTML_DIR/nowhere.sock;
    }
--- request eval
"POST /webhooks/teachfloor\n" . $::element
--- more_headers eval
::signed($::element, 'whsec_wrong')
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 11: an "if" block inside a gate inherits it, and the location's proxy_pass still forwards
--- config
    location = /webhooks/teachfloor {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        if ($http_x_debug) {
            set $debug 1;
        }
        proxy_pass         http://app/received;
    }
--- request eval
"POST /webhooks/teachfloor\n" . $::element
--- more_headers eval
::signed($::element) . "\nX-Debug: 1"
--- error_code: 200
--- response_body eval
"upstream: POST /received\nsignature: " . ::sig($::element) . "\n" . $::element



=== TEST 12: an "if" block inside a gate: a forged event is still refused
--- config
    location = /webhooks/teachfloor {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        if ($http_x_debug) {
            set $debug 1;
        }
        proxy_pass         http://app/received;
    }
--- request eval
"POST /webhooks/teachfloor\n" . $::element
--- more_headers eval
::signed($::element, 'whsec_wrong') . "\nX-Debug: 1"
--- error_code: 401
--- response_body
{"result":"invalid_signature"}
