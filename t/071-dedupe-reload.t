# vim:set ft= ts=4 sw=4 et fdm=marker:
# Dedupe across time and reloads (HUP between blocks): a sender that gives
# up at 3 s while the app answers 2xx at 4 s, copies in flight, state that
# survives nginx -s reload, ttl and in-flight expiry.

our $SkipReason;

BEGIN {
    if ($ENV{TEST_NGINX_CHECK_LEAK}) {
        $SkipReason = "unavailable for the hup tests";

    } else {
        $ENV{TEST_NGINX_USE_HUP} = 1;
    }
}

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket $SkipReason ? (skip_all => $SkipReason) : ('no_plan');
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

master_on();
no_shuffle();

sub ev {
    my ($n) = @_;
    return qq{{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{"n":$n}}};
}

our $HttpConfig = $UpstreamConfig . q{
    teachfloor_dedupe_zone zone=seen:1m;
    teachfloor_dedupe_zone zone=brief:1m ttl=1s;
    teachfloor_dedupe_zone zone=impatient:1m in_flight=1s;
    teachfloor_dedupe_zone zone=owner:1m in_flight=3s;

    server {
        listen unix:$TEST_NGINX_HTML_DIR/slow.sock;
        location / {
            echo_read_request_body;
            echo_sleep 4;
            echo "slow app done";
        }
    }

    server {
        listen unix:$TEST_NGINX_HTML_DIR/slow-failing.sock;
        location / {
            echo_read_request_body;
            echo_status 500;
            echo_sleep 4;
            echo "slow app failed";
        }
    }
};

our $Config = q{
    location = /wh {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        add_header                X-Result $teachfloor_result always;
        proxy_pass                http://app/received;
    }

    location = /slow {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_read_timeout        10s;
        proxy_pass                http://unix:$TEST_NGINX_HTML_DIR/slow.sock:/;
    }

    location = /brief {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=brief;
        proxy_ignore_client_abort on;
        proxy_pass                http://app/received;
    }

    location = /impatient-slow {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=impatient;
        proxy_ignore_client_abort on;
        proxy_read_timeout        10s;
        proxy_pass                http://unix:$TEST_NGINX_HTML_DIR/slow.sock:/;
    }

    location = /owner-failing {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=owner;
        proxy_ignore_client_abort on;
        proxy_read_timeout        10s;
        proxy_pass                http://unix:$TEST_NGINX_HTML_DIR/slow-failing.sock:/;
    }

    location = /owner-slow {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=owner;
        proxy_ignore_client_abort on;
        proxy_read_timeout        10s;
        proxy_pass                http://unix:$TEST_NGINX_HTML_DIR/slow.sock:/;
    }

    location = /owner {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=owner;
        proxy_ignore_client_abort on;
        add_header                X-Result $teachfloor_result always;
        proxy_pass                http://app/received;
    }

    location = /impatient {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=impatient;
        proxy_ignore_client_abort on;
        proxy_pass                http://app/received;
    }
};

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $HttpConfig) unless defined $block->http_config;
    # a block titled "(same nginx)" runs against the running nginx, with
    # no reload: a reload would wait for the old workers' requests to end
    $block->set_value('config', $Config)
        unless defined $block->config || $block->name =~ /\(same nginx\)/;
    if (defined $block->request && !defined $block->more_headers) {
        (my $body = $block->request) =~ s/^[^\n]*\n//;
        $block->set_value('more_headers', TeachfloorTest::signed($body));
    }
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: the sender gives up after 3 s while the app is still working on the event
--- request eval
"POST /slow\n" . ::ev(1)
--- timeout: 3
--- abort
--- ignore_response
--- no_error_log
[alert]



=== TEST 2: its retry arrives while the first copy is still in flight: 409 in_flight with Retry-After, not forwarded (same nginx)
--- request eval
"POST /wh\n" . ::ev(1)
--- error_code: 409
--- response_headers_like
Retry-After: \d+
X-Result: in_flight
--- response_body
{"result":"in_flight"}
--- wait: 2



=== TEST 3: the app answered 200 at 4 s to a sender that had left: the next retry is a duplicate (same nginx)
--- request eval
"POST /wh\n" . ::ev(1)
--- error_code: 200
--- response_headers
X-Result: duplicate
--- response_body
{"result":"duplicate"}



=== TEST 4: a new event is forwarded ...
--- request eval
"POST /wh\n" . ::ev(2)
--- error_code: 200
--- response_body_like: ^upstream: POST



=== TEST 5: ... and after nginx -s reload its copy is still a duplicate
--- request eval
"POST /wh\n" . ::ev(2)
--- error_code: 200
--- response_body
{"result":"duplicate"}



=== TEST 6: ttl: an event delivered through a zone with ttl=1s ...
--- request eval
"POST /brief\n" . ::ev(3)
--- error_code: 200
--- response_body_like: ^upstream: POST
--- wait: 1.5



=== TEST 7: ... is forgotten after its ttl and forwarded again
--- request eval
"POST /brief\n" . ::ev(3)
--- error_code: 200
--- response_body_like: ^upstream: POST



=== TEST 8: in_flight=1s: a mark held by a slow delivery ...
--- request eval
"POST /impatient-slow\n" . ::ev(4)
--- timeout: 0.5
--- abort
--- ignore_response
--- wait: 1



=== TEST 9: ... expires by itself, so the retry is not refused as in flight (same nginx)
--- request eval
"POST /impatient\n" . ::ev(4)
--- error_code: 200
--- response_body_like: ^upstream: POST
--- wait: 3



=== TEST 10: Retry-After of an in-flight copy is the whole seconds left of its mark: a sender gives up at 0.3 s ...
--- request eval
"POST /slow\n" . ::ev(10)
--- timeout: 0.3
--- abort
--- ignore_response



=== TEST 11: ... and its retry is told to come back in 60 s, the in_flight time (same nginx)
--- request eval
"POST /wh\n" . ::ev(10)
--- error_code: 409
--- response_headers
Retry-After: 60
X-Result: in_flight
--- response_body
{"result":"in_flight"}
--- wait: 4



=== TEST 12: owner: a copy whose mark expires (in_flight=3s) while its app is still failing slowly ...
--- request eval
"POST /owner-failing\n" . ::ev(12)
--- timeout: 0.3
--- abort
--- ignore_response
--- wait: 3



=== TEST 13: ... is taken over by a retry, in flight to a slow app (same nginx) ...
--- request eval
"POST /owner-slow\n" . ::ev(12)
--- timeout: 0.3
--- abort
--- ignore_response
--- wait: 1.3



=== TEST 14: ... and the first copy's late 500 does not release the retry's mark: a third copy is still in flight (same nginx)
--- request eval
"POST /owner\n" . ::ev(12)
--- error_code: 409
--- response_headers
X-Result: in_flight
--- response_body
{"result":"in_flight"}
--- wait: 3
