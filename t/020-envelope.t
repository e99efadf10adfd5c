# vim:set ft= ts=4 sw=4 et fdm=marker:
# After the signature: the body must be a JSON object in one of the two
# envelope shapes Teachfloor sends.  Every body here is correctly signed.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;
use POSIX qw(strftime);

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->http_config) {
        $block->set_value('http_config', $UpstreamConfig);
    }
    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
_EOC_
    }
    # each request is signed correctly unless the block says otherwise
    if (!defined $block->more_headers) {
        (my $body = $block->request) =~ s/^[^\n]*\n//;
        $block->set_value('more_headers', TeachfloorTest::signed($body));
    }
});

sub forwarded { "upstream: POST /received\nsignature: " . sig($_[0]) . "\n" . $_[0] }

# an envelope with this event name, as written in JSON (escapes and all)
sub ev {
    my ($name) = @_;
    return qq{{"event":"$name","timestamp":"2025-10-07T15:30:00Z","data":{}}};
}

# the second shape, created $delta seconds from now
sub typed_at {
    my ($delta) = @_;
    my $t = strftime('%Y-%m-%dT%H:%M:%S.000000Z', gmtime(time + $delta));
    return qq{{"id":"evt_1","type":"course.join","created_at":"$t","data":{}}};
}

no_long_string();
run_tests();

__DATA__

=== TEST 1: the event/timestamp shape is accepted
--- request eval
"POST /wh\n" . ::sample('course-updated')
--- error_code: 200
--- response_body eval
::forwarded(::sample('course-updated'))



=== TEST 2: the id/type/created_at shape is accepted
--- request eval
"POST /wh\n" . ::sample('course-join-typed')
--- error_code: 200
--- response_body eval
::forwarded(::sample('course-join-typed'))



=== TEST 3: a test event is accepted (forwarded by default)
--- request eval
"POST /wh\n" . ::sample('test-event')
--- error_code: 200
--- response_body eval
::forwarded(::sample('test-event'))



=== TEST 4: unknown fields are ignored, white space between tokens too
--- request eval
"POST /wh\n" . qq{{ "event" : "member.joined",\t"version":2, "timestamp":"2025-10-07T15:30:00+02:00","data":{},"extra":[1,2,{"x":null}]}}
--- error_code: 200



=== TEST 5: an empty body is malformed_json
--- request eval
"POST /wh\n" . ""
--- error_code: 400
--- response_body
{"result":"malformed_json"}
--- error_log
teachfloor webhook malformed_json



=== TEST 6: not JSON at all: malformed_json
--- request eval
"POST /wh\n" . "event=member.joined"
--- error_code: 400
--- response_body
{"result":"malformed_json"}



=== TEST 7: a JSON array is not an envelope object: malformed_json
--- request eval
"POST /wh\n" . '[{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{}}]'
--- error_code: 400
--- response_body
{"result":"malformed_json"}



=== TEST 8: bytes after the object: malformed_json
--- request eval
"POST /wh\n" . '{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{}}{}'
--- error_code: 400
--- response_body
{"result":"malformed_json"}



=== TEST 9: a truncated object: malformed_json
--- request eval
"POST /wh\n" . '{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{}'
--- error_code: 400
--- response_body
{"result":"malformed_json"}



=== TEST 10: 100000 levels of nesting neither crash nor exhaust the stack
--- request eval
"POST /wh\n" . '{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":' . ('[' x 100000) . (']' x 100000) . '}'
--- error_code: 400
--- response_body
{"result":"malformed_json"}
--- no_error_log
[alert]
[crit]



=== TEST 11: no event name: invalid_envelope
--- request eval
"POST /wh\n" . '{"timestamp":"2025-10-07T15:30:00Z","data":{}}'
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}
--- error_log
teachfloor webhook invalid_envelope



=== TEST 12: an event name of one segment is forwarded, noted at info
--- request eval
"POST /wh\n" . ::ev('lead-scored')
--- error_code: 200
--- response_body eval
::forwarded(::ev('lead-scored'))
--- error_log
[info]
teachfloor webhook event name outside the resource.action convention, event "lead-scored"



=== TEST 13: an event name with upper case is forwarded, noted at info
--- request eval
"POST /wh\n" . ::ev('orgX.custom.v2')
--- error_code: 200
--- response_body eval
::forwarded(::ev('orgX.custom.v2'))
--- error_log
teachfloor webhook event name outside the resource.action convention, event "orgX.custom.v2"



=== TEST 14: an event name that is not a string: invalid_envelope
--- request eval
"POST /wh\n" . '{"event":42,"timestamp":"2025-10-07T15:30:00Z","data":{}}'
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}



=== TEST 15: no time: invalid_envelope, and the valid event name is logged
--- request eval
"POST /wh\n" . '{"event":"member.joined","data":{}}'
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}
--- error_log
teachfloor webhook invalid_envelope, event "member.joined"



=== TEST 16: a time that is not RFC 3339: invalid_envelope
--- request eval
"POST /wh\n" . '{"event":"member.joined","timestamp":"07/10/2025 15:30","data":{}}'
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}



=== TEST 17: a time without a zone: invalid_envelope
--- request eval
"POST /wh\n" . '{"event":"member.joined","timestamp":"2025-10-07T15:30:00","data":{}}'
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}



=== TEST 18: no data: invalid_envelope
--- request eval
"POST /wh\n" . '{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z"}'
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}



=== TEST 19: data that is not an object: invalid_envelope
--- request eval
"POST /wh\n" . '{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":[]}'
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}



=== TEST 20: an empty id: invalid_envelope
--- request eval
"POST /wh\n" . '{"id":"","type":"course.join","created_at":"2025-10-07T15:30:00.000000Z","data":{}}'
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}



=== TEST 21: an id that is not a string: invalid_envelope
--- request eval
"POST /wh\n" . '{"id":7,"type":"course.join","created_at":"2025-10-07T15:30:00.000000Z","data":{}}'
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}



=== TEST 22: a "test" flag that is not a boolean: invalid_envelope
--- request eval
"POST /wh\n" . '{"event":"test.event","timestamp":"2025-10-07T15:30:00Z","test":"yes","data":{}}'
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}



=== TEST 23: JSON is not parsed before the signature passes: a forged malformed body is invalid_signature
--- request
POST /wh
{not json
--- more_headers eval
"Teachfloor-Signature: " . ("ab" x 32)
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 24: a custom event name with spaces and a colon is forwarded byte for byte, noted at info
--- request eval
"POST /wh\n" . ::ev('Custom Event: Lead Scored')
--- error_code: 200
--- response_body eval
::forwarded(::ev('Custom Event: Lead Scored'))
--- error_log
teachfloor webhook event name outside the resource.action convention, event "Custom Event: Lead Scored"



=== TEST 25: a name of the convention is not noted
--- request eval
"POST /wh\n" . ::ev('member.joined')
--- error_code: 200
--- response_body eval
::forwarded(::ev('member.joined'))
--- no_error_log
outside the resource.action convention



=== TEST 26: names with empty segments are forwarded
--- request eval
["POST /wh\n" . ::ev('member.'), "POST /wh\n" . ::ev('.joined'), "POST /wh\n" . ::ev('a..b')]
--- more_headers eval
[::signed(::ev('member.')), ::signed(::ev('.joined')), ::signed(::ev('a..b'))]
--- error_code eval
[200, 200, 200]
--- response_body eval
[::forwarded(::ev('member.')), ::forwarded(::ev('.joined')), ::forwarded(::ev('a..b'))]



=== TEST 27: a name of 256 bytes is forwarded
--- request eval
"POST /wh\n" . ::ev('a.' . ('b' x 254))
--- error_code: 200
--- response_body eval
::forwarded(::ev('a.' . ('b' x 254)))



=== TEST 28: a name of 257 bytes, even of the convention, is invalid_envelope and not forwarded
--- request eval
"POST /wh\n" . ::ev('a.' . ('b' x 255))
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}
--- error_log
teachfloor webhook invalid_envelope
--- no_error_log
event "a.b



=== TEST 29: a name with an escaped control character is invalid_envelope
--- request eval
"POST /wh\n" . ::ev('member.joined\u0001')
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}



=== TEST 30: a name with a raw control character (a tab) is invalid_envelope
--- request eval
"POST /wh\n" . ::ev("member\tjoined")
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}



=== TEST 31: quotes, backslashes and UTF-8 in a name are escaped in the info line
--- request eval
"POST /wh\n" . ::ev('we\"ird\\\\back \u00e9')
--- error_code: 200
--- response_body eval
::forwarded(::ev('we\"ird\\\\back \u00e9'))
--- error_log eval
qr/event name outside the resource\.action convention, event "we\\"ird\\\\back \\xc3\\xa9"(?:,|$)/



=== TEST 31b: quotes, backslashes and UTF-8 in a name are escaped in the rejection line
--- request eval
"POST /wh\n" . '{"event":"we\"ird\\\\back \u00e9","data":{}}'
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}
--- error_log eval
qr/teachfloor webhook invalid_envelope, event "we\\"ird\\\\back \\xc3\\xa9"(?:,|: |$)/



=== TEST 32: the log line shows at most 128 bytes of a name, each escaped
--- request eval
"POST /wh\n" . ::ev('\"' x 200)
--- error_code: 200
--- response_body eval
::forwarded(::ev('\"' x 200))
--- error_log eval
qr/convention, event "(\\"){128}"(?:,|$)/



=== TEST 33: odd names in metrics labels: escaped, one series each
--- config
    location = /metrics {
        teachfloor_metrics;
    }
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- request eval
["POST /wh\n" . ::ev('we\"ird\\\\back \u00e9'), "POST /wh\n" . ::ev('Lead Scored'), "GET /metrics"]
--- more_headers eval
[::signed(::ev('we\"ird\\\\back \u00e9')), ::signed(::ev('Lead Scored')), 'X-Nothing: 1']
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^upstream/, qr/^upstream/,
 qr/\nteachfloor_events_total\{event="we\\"ird\\\\back \xc3\xa9",result="accepted"\} 1\nteachfloor_events_total\{event="Lead Scored",result="accepted"\} 1\n/]



=== TEST 34: an escaped NUL in the event name is invalid_envelope, not the name cut short
--- request eval
"POST /wh\n" . ::ev('member.joined\u0000x')
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}
--- no_error_log
event "member.joined



=== TEST 35: tolerance, second shape: a created_at 10 min old is stale_timestamp and not forwarded
--- config
    location = /wh {
        teachfloor_webhook             on;
        teachfloor_secret              whsec_test;
        teachfloor_timestamp_tolerance 5m;
        proxy_pass                     http://app/received;
    }
--- request eval
"POST /wh\n" . ::typed_at(-600)
--- error_code: 401
--- response_body
{"result":"stale_timestamp"}
--- error_log
teachfloor webhook stale_timestamp, event "course.join"



=== TEST 36: tolerance, second shape: a created_at 10 min ahead is stale_timestamp too
--- config
    location = /wh {
        teachfloor_webhook             on;
        teachfloor_secret              whsec_test;
        teachfloor_timestamp_tolerance 5m;
        proxy_pass                     http://app/received;
    }
--- request eval
"POST /wh\n" . ::typed_at(600)
--- error_code: 401
--- response_body
{"result":"stale_timestamp"}



=== TEST 37: tolerance, second shape: a created_at 30 s old is forwarded
--- config
    location = /wh {
        teachfloor_webhook             on;
        teachfloor_secret              whsec_test;
        teachfloor_timestamp_tolerance 5m;
        proxy_pass                     http://app/received;
    }
--- request eval
"POST /wh\n" . ::typed_at(-30)
--- error_code: 200
--- response_body_like: ^upstream: POST /received\nsignature: [0-9a-f]{64}\n\{"id":"evt_1","type":"course\.join","created_at":"



=== TEST 38: an event whose tree outgrows the worker's 64 KB parse arena (4,000 objects) goes on in the request pool and is forwarded
--- request eval
"POST /wh\n" . '{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{"list":[' . join(',', ('{"a":1}') x 4000) . ']}}'
--- error_code: 200
--- response_body eval
::forwarded('{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{"list":[' . join(',', ('{"a":1}') x 4000) . ']}}')



=== TEST 39: an "id" with a line break (it would go into headers as $teachfloor_event_id): invalid_envelope, not forwarded, the log says why
--- request eval
"POST /wh\n" . '{"id":"evt_1\r\nX-Injected: 1","event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{}}'
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}
--- error_log
teachfloor webhook invalid_envelope, event "member.joined": "id" has a control character



=== TEST 40: an organization id with a line break is no organization id ($teachfloor_organization_id empty); the event is forwarded
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        add_header         X-Org "[$teachfloor_organization_id]" always;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . '{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{"organization":{"id":"org_1\r\nX-Injected: 1"}}}'
--- error_code: 200
--- response_headers
X-Org: []
--- response_body eval
::forwarded('{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{"organization":{"id":"org_1\r\nX-Injected: 1"}}}')
