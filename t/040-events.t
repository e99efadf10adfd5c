# vim:set ft= ts=4 sw=4 et fdm=marker:
# teachfloor_events, teachfloor_filtered_status, teachfloor_test_events.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

sub ev {
    my ($name) = @_;
    return qq{{"event":"$name","timestamp":"2025-10-07T15:30:00Z","data":{}}};
}

sub fwd { "upstream: POST /received\nsignature: " . sig($_[0]) . "\n" . $_[0] }

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->http_config) {
        $block->set_value('http_config', $UpstreamConfig);
    }
    # each request is signed correctly unless the block says otherwise
    if (defined $block->request && !defined $block->more_headers) {
        (my $body = $block->request) =~ s/^[^\n]*\n//;
        $block->set_value('more_headers', TeachfloorTest::signed($body));
    }
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: an exact name lets that event through
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  member.joined;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('member.joined')
--- error_code: 200
--- response_body eval
::fwd(::ev('member.joined'))



=== TEST 2: an exact name filters other events: 200 filtered, not forwarded
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  member.joined;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('member.left')
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body
{"result":"filtered"}
--- error_log
teachfloor webhook filtered, event "member.left"



=== TEST 3: course.* takes course events
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  course.*;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('course.updated')
--- error_code: 200
--- response_body eval
::fwd(::ev('course.updated'))



=== TEST 4: course.* is one segment: course.section.added is filtered
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  course.*;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('course.section.added')
--- error_code: 200
--- response_body
{"result":"filtered"}



=== TEST 5: *.completed takes element.completed
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  *.completed;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::sample('element-completed')
--- error_code: 200
--- response_body eval
::fwd(::sample('element-completed'))



=== TEST 6: *.completed filters member.joined
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  *.completed;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::sample('member-joined')
--- error_code: 200
--- response_body
{"result":"filtered"}



=== TEST 7: "*" takes everything
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  *;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('anything.at.all')
--- error_code: 200
--- response_body eval
::fwd(::ev('anything.at.all'))



=== TEST 8: an exclusion wins over an inclusion that also matches
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  course.* !course.deleted;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('course.deleted')
--- error_code: 200
--- response_body
{"result":"filtered"}



=== TEST 9: exclusions alone: every other event passes
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  !test.event;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('member.joined')
--- error_code: 200
--- response_body eval
::fwd(::ev('member.joined'))



=== TEST 10: several teachfloor_events lines at one level add up: the second line's events pass
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  member.joined;
        teachfloor_events  course.*;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('course.updated')
--- error_code: 200
--- response_body eval
::fwd(::ev('course.updated'))



=== TEST 10b: several teachfloor_events lines at one level add up: the first line's events pass
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  member.joined;
        teachfloor_events  course.*;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('member.joined')
--- error_code: 200
--- response_body eval
::fwd(::ev('member.joined'))



=== TEST 11: patterns are inherited from the server level
--- config
    teachfloor_events member.*;
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('course.updated')
--- error_code: 200
--- response_body
{"result":"filtered"}



=== TEST 12: a location with its own patterns replaces the inherited ones
--- config
    teachfloor_events member.*;
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  course.*;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('course.updated')
--- error_code: 200
--- response_body eval
::fwd(::ev('course.updated'))



=== TEST 13: teachfloor_filtered_status sets the status of filtered events
--- config
    location = /wh {
        teachfloor_webhook         on;
        teachfloor_secret          whsec_test;
        teachfloor_events          member.*;
        teachfloor_filtered_status 202;
        proxy_pass                 http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('course.updated')
--- error_code: 202
--- response_body
{"result":"filtered"}



=== TEST 14: a forged event is rejected, not reported as filtered
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  member.*;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('course.updated')
--- more_headers eval
::signed(::ev('course.updated'), 'whsec_wrong')
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 15: a non-2xx teachfloor_filtered_status fails nginx -t
--- config
    location = /wh {
        teachfloor_webhook         on;
        teachfloor_secret          whsec_test;
        teachfloor_filtered_status 404;
        proxy_pass                 http://app/received;
    }
--- must_die
--- error_log eval
qr/value must be between 200 and 299/



=== TEST 16: a malformed pattern fails nginx -t with its text
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  member.joined course.*x;
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/invalid event pattern "course\.\*x"/



=== TEST 17: a pattern with an empty segment fails nginx -t
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  member..joined;
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/invalid event pattern "member\.\.joined"/



=== TEST 18: test events are forwarded by default
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::sample('test-event')
--- error_code: 200
--- response_body eval
::fwd(::sample('test-event'))



=== TEST 19: teachfloor_test_events ack: 200 test_acknowledged, not forwarded
--- config
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret      whsec_test;
        teachfloor_test_events ack;
        proxy_pass             http://app/received;
    }
--- request eval
"POST /wh\n" . ::sample('test-event')
--- error_code: 200
--- response_body
{"result":"test_acknowledged"}



=== TEST 20: teachfloor_test_events reject: 403 test_rejected
--- config
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret      whsec_test;
        teachfloor_test_events reject;
        proxy_pass             http://app/received;
    }
--- request eval
"POST /wh\n" . ::sample('test-event')
--- error_code: 403
--- response_body
{"result":"test_rejected"}
--- error_log
teachfloor webhook test_rejected, event "test.event"



=== TEST 21: the test policy applies before the filter: an acked test event is not "filtered"
--- config
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret      whsec_test;
        teachfloor_events      member.*;
        teachfloor_test_events ack;
        proxy_pass             http://app/received;
    }
--- request eval
"POST /wh\n" . ::sample('test-event')
--- error_code: 200
--- response_body
{"result":"test_acknowledged"}



=== TEST 22: a forwarded test event still passes the filter: filtered when its name is not wanted
--- config
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret      whsec_test;
        teachfloor_events      member.*;
        proxy_pass             http://app/received;
    }
--- request eval
"POST /wh\n" . ::sample('test-event')
--- error_code: 200
--- response_body
{"result":"filtered"}



=== TEST 23: "test": false is an ordinary event under teachfloor_test_events reject
--- config
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret      whsec_test;
        teachfloor_test_events reject;
        proxy_pass             http://app/received;
    }
--- request eval
"POST /wh\n" . '{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","test":false,"data":{}}'
--- error_code: 200
--- response_body eval
::fwd('{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","test":false,"data":{}}')



=== TEST 24: patterns for custom names: one segment, upper case, spaces, byte for byte
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  lead-scored orgX.*.v2 "Custom Event: Lead Scored";
        proxy_pass         http://app/received;
    }
--- request eval
[map { "POST /wh\n" . ::ev($_) } 'lead-scored', 'orgX.custom.v2', 'Custom Event: Lead Scored', 'Lead-scored', 'orgx.custom.v2', 'custom event: lead scored', 'lead-scored.x']
--- more_headers eval
[map { ::signed(::ev($_)) } 'lead-scored', 'orgX.custom.v2', 'Custom Event: Lead Scored', 'Lead-scored', 'orgx.custom.v2', 'custom event: lead scored', 'lead-scored.x']
--- error_code eval
[(200) x 7]
--- response_body eval
[(map { ::fwd(::ev($_)) } 'lead-scored', 'orgX.custom.v2', 'Custom Event: Lead Scored'),
 (qq{{"result":"filtered"}\n}) x 4]



=== TEST 25: patterns of the convention take no odd name
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  member.* *.completed;
        proxy_pass         http://app/received;
    }
--- request eval
[map { "POST /wh\n" . ::ev($_) } 'Member.joined', 'member', 'member.joined.x', 'Element.Completed', ' member.joined']
--- more_headers eval
[map { ::signed(::ev($_)) } 'Member.joined', 'member', 'member.joined.x', 'Element.Completed', ' member.joined']
--- error_code eval
[(200) x 5]
--- response_body eval
[(qq{{"result":"filtered"}\n}) x 5]



=== TEST 26: "*" takes any one segment, an empty one included
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  member.* *.joined a.*.b;
        proxy_pass         http://app/received;
    }
--- request eval
[map { "POST /wh\n" . ::ev($_) } 'member.', '.joined', 'a..b', 'member..', '..joined', '.']
--- more_headers eval
[map { ::signed(::ev($_)) } 'member.', '.joined', 'a..b', 'member..', '..joined', '.']
--- error_code eval
[(200) x 6]
--- response_body eval
[(map { ::fwd(::ev($_)) } 'member.', '.joined', 'a..b'),
 (qq{{"result":"filtered"}\n}) x 3]



=== TEST 27: an exclusion of the convention lets odd names through, and still excludes an empty last segment
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  !course.*;
        proxy_pass         http://app/received;
    }
--- request eval
[map { "POST /wh\n" . ::ev($_) } 'Course.updated', 'course', 'course \u00e9', 'course.', 'course.\u00e9']
--- more_headers eval
[map { ::signed(::ev($_)) } 'Course.updated', 'course', 'course \u00e9', 'course.', 'course.\u00e9']
--- error_code eval
[(200) x 5]
--- response_body eval
[(map { ::fwd(::ev($_)) } 'Course.updated', 'course', 'course \u00e9'),
 (qq{{"result":"filtered"}\n}) x 2]



=== TEST 28: a UTF-8 pattern matches the same bytes, however the sender escaped them
--- config eval
qq{
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  "cours\xc3\xa9.*";
        proxy_pass         http://app/received;
    }
}
--- request eval
[map { "POST /wh\n" . ::ev($_) } 'cours\u00e9.x', "cours\xc3\xa9.y", 'course.x']
--- more_headers eval
[map { ::signed(::ev($_)) } 'cours\u00e9.x', "cours\xc3\xa9.y", 'course.x']
--- error_code eval
[(200) x 3]
--- response_body eval
[(map { ::fwd(::ev($_)) } 'cours\u00e9.x', "cours\xc3\xa9.y"), qq{{"result":"filtered"}\n}]
