# vim:set ft= ts=4 sw=4 et fdm=marker:
# The metrics survive nginx -s reload (HUP between blocks).

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
workers(2);
no_shuffle();

our $body = sample('member-joined');

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $UpstreamConfig) unless defined $block->http_config;
    $block->set_value('config', <<'_EOC_') unless defined $block->config;
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
    location = /metrics {
        teachfloor_metrics;
    }
_EOC_
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: before the reload: one event accepted, one forged
--- request eval
["POST /wh\n" . $::body, "POST /wh\n" . $::body]
--- more_headers eval
[::signed($::body), ::signed($::body, 'whsec_wrong')]
--- error_code eval
[200, 401]



=== TEST 2: after nginx -s reload the counts are still there
--- request
GET /metrics
--- error_code: 200
--- response_body_like
teachfloor_requests_total\{result="accepted"\} 1\n.*teachfloor_requests_total\{result="invalid_signature"\} 1\n.*teachfloor_events_total\{event="member\.joined",result="accepted"\} 1\n.*teachfloor_upstream_responses_total\{class="2xx"\} 1
