# vim:set ft= ts=4 sw=4 et fdm=marker:
# After the signature: the body must be a JSON object in one of the two
# envelope shapes Teachfloor sends.  Every body here is correctly signed.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;

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



=== TEST 12: an event name of one segment: invalid_envelope
--- request eval
"POST /wh\n" . '{"event":"member","timestamp":"2025-10-07T15:30:00Z","data":{}}'
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}



=== TEST 13: an event name with upper case: invalid_envelope
--- request eval
"POST /wh\n" . '{"event":"Member.Joined","timestamp":"2025-10-07T15:30:00Z","data":{}}'
--- error_code: 422
--- response_body
{"result":"invalid_envelope"}



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
