# vim:set ft= ts=4 sw=4 et fdm=marker:
# teachfloor_metrics: exact counts over two workers, zone gauges, bounded
# event names, escaped labels, and promtool's approval of the output.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

master_on();
workers(2);

sub ev {
    my ($name, $org) = @_;
    my $data = defined $org ? qq{{"organization":{"id":"$org"}}} : '{}';
    return qq{{"event":"$name","timestamp":"2025-10-07T15:30:00Z","data":$data}};
}

# what promtool makes of a scrape: its complaints and exit status
sub promtool {
    my ($body) = @_;
    return "not a scrape\n" unless $body =~ /^# HELP /;
    my $file = html_dir() . "/scrape.txt";
    open my $fh, '>', $file or die "$file: $!";
    print $fh $body;
    close $fh;
    my $out = `promtool check metrics < $file 2>&1`;
    return $out . "promtool exit status " . ($? >> 8) . "\n";
}

our $Metrics = <<'_EOC_';
    location = /metrics {
        teachfloor_metrics;
    }
_EOC_

our $Gate = <<'_EOC_';
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret      whsec_test;
        teachfloor_secret      whsec_next;
        teachfloor_events      member.* course.* test.event;
        teachfloor_test_events ack;
        proxy_pass             http://app/received;
    }
_EOC_

# a known mix of traffic, then a scrape
our @mix = (
    [ev('member.joined'), signed(ev('member.joined'))],                 # accepted, secret 1
    [ev('course.updated'), signed(ev('course.updated'), 'whsec_next')], # accepted, secret 2
    [ev('member.joined'), signed(ev('member.joined'), 'whsec_old')],    # invalid_signature
    [ev('member.joined'), 'X-Nothing: 1'],                              # missing_signature
    ['{"event":', signed('{"event":')],                                 # malformed_json, secret 1
    ['{"event":"member.joined"}', signed('{"event":"member.joined"}')], # invalid_envelope, secret 1
    [ev('element.completed'), signed(ev('element.completed'))],         # filtered, secret 1
    [sample('test-event'), signed(sample('test-event'))],               # test_acknowledged, secret 1
);

our @mix_requests = ((map { "POST /wh\n" . $_->[0] } @mix), "PUT /wh\nx", "GET /metrics");
our @mix_headers = ((map { $_->[1] } @mix), 'X-Nothing: 1', 'X-Nothing: 1');
our @mix_codes = (200, 200, 401, 401, 400, 422, 200, 200, 405, 200);

# what the scrape at the end of the mix must say, to the byte
our $scrape = <<'_EOM_';
# HELP teachfloor_requests_total Requests a Teachfloor gate forwarded or answered itself, by result.
# TYPE teachfloor_requests_total counter
teachfloor_requests_total{result="accepted"} 2
teachfloor_requests_total{result="method_not_allowed"} 1
teachfloor_requests_total{result="missing_signature"} 1
teachfloor_requests_total{result="invalid_signature"} 1
teachfloor_requests_total{result="malformed_json"} 1
teachfloor_requests_total{result="invalid_envelope"} 1
teachfloor_requests_total{result="test_acknowledged"} 1
teachfloor_requests_total{result="test_rejected"} 0
teachfloor_requests_total{result="filtered"} 1
teachfloor_requests_total{result="rate_limited"} 0
teachfloor_requests_total{result="stale_timestamp"} 0
teachfloor_requests_total{result="duplicate"} 0
teachfloor_requests_total{result="in_flight"} 0
# HELP teachfloor_events_total Verified events by type and result; past 128 names, event="other".
# TYPE teachfloor_events_total counter
teachfloor_events_total{event="member.joined",result="accepted"} 1
teachfloor_events_total{event="member.joined",result="invalid_envelope"} 1
teachfloor_events_total{event="course.updated",result="accepted"} 1
teachfloor_events_total{event="element.completed",result="filtered"} 1
teachfloor_events_total{event="test.event",result="test_acknowledged"} 1
# HELP teachfloor_secret_matches_total Requests verified by each secret, by its name=, else its 1-based position; past 32, secret="other".
# TYPE teachfloor_secret_matches_total counter
teachfloor_secret_matches_total{secret="1"} 5
teachfloor_secret_matches_total{secret="2"} 1
# HELP teachfloor_upstream_responses_total Final upstream status of forwarded events, by class.
# TYPE teachfloor_upstream_responses_total counter
teachfloor_upstream_responses_total{class="2xx"} 2
teachfloor_upstream_responses_total{class="3xx"} 0
teachfloor_upstream_responses_total{class="4xx"} 0
teachfloor_upstream_responses_total{class="5xx"} 0
# HELP teachfloor_rate_limit_dry_run_total Events teachfloor_limit_dry_run forwarded at once that a rate limit would have refused or delayed.
# TYPE teachfloor_rate_limit_dry_run_total counter
teachfloor_rate_limit_dry_run_total{action="refused"} 0
teachfloor_rate_limit_dry_run_total{action="delayed"} 0
_EOM_

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->http_config) {
        $block->set_value('http_config', $UpstreamConfig);
    }
    if (!defined $block->config) {
        $block->set_value('config', $Gate . $Metrics);
    }
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: a known mix of traffic over two workers gives exact counts
--- request eval
\@::mix_requests
--- more_headers eval
\@::mix_headers
--- error_code eval
\@::mix_codes
--- response_headers eval
[("") x 9, "Content-Type: text/plain; version=0.0.4"]
--- response_body_like eval
[qr/^upstream/, qr/^upstream/, qr/invalid_signature/, qr/missing_signature/, qr/malformed_json/,
 qr/invalid_envelope/, qr/filtered/, qr/test_acknowledged/, qr/method_not_allowed/,
 qr/\A\Q$::scrape\E\z/]



=== TEST 2: promtool check metrics finds nothing to complain about in a busy scrape
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone  $teachfloor_organization_id zone=orgs:1m rate=1r/m;
    teachfloor_dedupe_zone zone=seen:1m;
    teachfloor_dedupe_zone "zone=we\"ird\\\\back\nline:1m";
}
--- config eval
$::Metrics . q{
    location = /wh {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_limit          zone=orgs;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://app/received;
    }
}
--- request eval
[(map { "POST /wh\n" . ::ev('member.joined', "org_$_") } 1 .. 3),
 "POST /wh\n" . ::ev('member.joined', 'org_1'), "POST /wh\n" . ::ev('course.updated', 'org_1'),
 "GET /metrics"]
--- more_headers eval
[(map { ::signed(::ev('member.joined', "org_$_")) } 1 .. 3),
 ::signed(::ev('member.joined', 'org_1')), ::signed(::ev('course.updated', 'org_1')), 'X-Nothing: 1']
--- error_code eval
[200, 200, 200, 200, 429, 200]
--- response_body_filters eval
\&::promtool
--- response_body eval
[("not a scrape\n") x 5, "promtool exit status 0\n"]



=== TEST 3: zone gauges: keys held per rate-limit zone, entries per dedupe zone, escaped zone names
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone  $teachfloor_organization_id zone=orgs:1m rate=1r/m;
    teachfloor_dedupe_zone zone=seen:1m;
    teachfloor_dedupe_zone "zone=we\"ird\\\\back\nline:1m";
}
--- config eval
$::Metrics . q{
    location = /wh {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_limit          zone=orgs;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://app/received;
    }
}
--- request eval
[(map { "POST /wh\n" . ::ev('member.joined', "org_$_") } 1 .. 3), "GET /metrics"]
--- more_headers eval
[(map { ::signed(::ev('member.joined', "org_$_")) } 1 .. 3), 'X-Nothing: 1']
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[qr/^upstream/, qr/^upstream/, qr/^upstream/,
 qr/\nteachfloor_limit_zone_keys\{zone="orgs"\} 3\n.*\nteachfloor_limit_zone_evictions_total\{zone="orgs"\} 0\n.*\nteachfloor_dedupe_zone_entries\{zone="seen"\} 3\nteachfloor_dedupe_zone_entries\{zone="we\\"ird\\\\back\\nline"\} 0\n.*teachfloor_dedupe_zone_evictions_total\{zone="seen"\} 0\n/s]



=== TEST 4: upstream answers are counted by class
--- http_config eval
$::UpstreamConfig . q{
    server {
        listen unix:$TEST_NGINX_HTML_DIR/status.sock;
        location = /500 { return 500; }
        location = /404 { return 404; }
        location = /302 { return 302 /elsewhere; }
    }
}
--- config eval
$::Metrics . q{
    location ~ ^/wh/(\d+)$ {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://unix:$TEST_NGINX_HTML_DIR/status.sock:/$1;
    }
}
--- request eval
["POST /wh/500\n" . ::ev('member.joined'), "POST /wh/404\n" . ::ev('member.joined'),
 "POST /wh/302\n" . ::ev('member.joined'), "POST /wh/500\n" . ::ev('member.joined'), "GET /metrics"]
--- more_headers eval
[(::signed(::ev('member.joined'))) x 4, 'X-Nothing: 1']
--- error_code eval
[500, 404, 302, 500, 200]
--- response_body_like eval
[qr/500/, qr/404/, qr/302/, qr/500/,
 qr/\{class="2xx"\} 0\n.*\{class="3xx"\} 1\n.*\{class="4xx"\} 1\n.*\{class="5xx"\} 2\n/s]



=== TEST 5: at most 128 event names are kept apart; the rest are counted as "other"
--- config eval
$::Metrics . q{
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
}
--- request eval
[(map { "POST /wh\n" . ::ev("resource.action_$_") } 1 .. 131), "GET /metrics"]
--- more_headers eval
[(map { ::signed(::ev("resource.action_$_")) } 1 .. 131), 'X-Nothing: 1']
--- error_code eval
[(200) x 132]
--- response_body_like eval
[(qr/^upstream/) x 131,
 qr/\{event="resource\.action_128",result="accepted"\} 1\n(?!teachfloor_events_total\{event="resource).*teachfloor_events_total\{event="other",result="accepted"\} 3\n/s]



=== TEST 6: the endpoint answers GET and HEAD only
--- request
POST /metrics
x
--- error_code: 405



=== TEST 7: a gate's counters start from zero and the endpoint is served without any gate traffic
--- request
GET /metrics
--- error_code: 200
--- response_body_like
teachfloor_requests_total\{result="accepted"\} 0



=== TEST 8: a sender that gives up during a rate-limit delay (499, the app never asked) is no upstream answer
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1r/m;
}
--- config eval
$::Metrics . q{
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs burst=1;
        proxy_pass         http://app/received;
    }
}
--- request eval
["POST /wh\n" . ::ev('member.joined', 'org_a'), "POST /wh\n" . ::ev('member.joined', 'org_a'),
 "GET /metrics"]
--- more_headers eval
[(::signed(::ev('member.joined', 'org_a'))) x 2, 'X-Nothing: 1']
--- timeout: 2
--- abort
--- wait: 0.3
--- error_code eval
[200, '', 200]
--- response_body_like eval
[qr/^upstream: POST/, qr/^\z/,
 qr/\nteachfloor_requests_total\{result="accepted"\} 2\n.*\{class="2xx"\} 1\n.*\{class="3xx"\} 0\n.*\{class="4xx"\} 0\n.*\{class="5xx"\} 0\n/s]



=== TEST 9: secrets are counted by their name=, else by position; never by value
--- config eval
q{
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test name=2026-q4;
        teachfloor_secret  whsec_next;
        proxy_pass         http://app/received;
    }
} . $::Metrics
--- request eval
["POST /wh\n" . ::ev('member.joined'), "POST /wh\n" . ::ev('course.updated'),
 "POST /wh\n" . ::ev('member.left'), "GET /metrics"]
--- more_headers eval
[TeachfloorTest::signed(::ev('member.joined')), TeachfloorTest::signed(::ev('course.updated'), 'whsec_next'),
 TeachfloorTest::signed(::ev('member.left')), ""]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[qr/^upstream/, qr/^upstream/, qr/^upstream/,
 qr/\nteachfloor_secret_matches_total\{secret="2026-q4"\} 2\nteachfloor_secret_matches_total\{secret="2"\} 1\n(?!.*whsec)/s]
