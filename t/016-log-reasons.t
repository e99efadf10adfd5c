# vim:set ft= ts=4 sw=4 et fdm=marker:
# The one line a rejection logs: at "error" by default (events dropped on
# purpose at "info"), naming precisely why, never a secret or the body.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $body = sample('member-joined');

sub ev {
    my ($ts, $data) = @_;
    return '{"event":"member.joined","timestamp":"' . $ts . '","data":' . ($data // '{}') . '}';
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $UpstreamConfig)
        unless defined $block->http_config;
    $block->set_value('config', q{
    location = /wh {
        teachfloor_webhook             on;
        teachfloor_secret              whsec_old;
        teachfloor_secret              whsec_test;
        teachfloor_timestamp_tolerance 5m;
        teachfloor_events              member.* !member.left;
        proxy_pass                     http://app/received;
    }
}) unless defined $block->config;
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: no signature header: at error, naming the header
--- request eval
"POST /wh\n" . $::body
--- error_code: 401
--- error_log eval
qr/\[error\] .*teachfloor webhook missing_signature: no "Teachfloor-Signature" header, client:/



=== TEST 2: two signature headers
--- request eval
"POST /wh\n" . $::body
--- more_headers eval
::signed($::body) . "\n" . ::signed($::body)
--- error_code: 401
--- error_log eval
qr/\[error\] .*teachfloor webhook invalid_signature: 2 "Teachfloor-Signature" headers, client:/



=== TEST 3: a header of the wrong length
--- request eval
"POST /wh\n" . $::body
--- more_headers eval
"Teachfloor-Signature: " . substr(::sig($::body), 1)
--- error_code: 401
--- error_log eval
qr/\[error\] .*teachfloor webhook invalid_signature: the header is 63 characters, not 64 hex digits, client:/



=== TEST 4: a "sha256=" prefix is named as such
--- request eval
"POST /wh\n" . $::body
--- more_headers eval
"Teachfloor-Signature: sha256=" . ::sig($::body)
--- error_code: 401
--- error_log eval
qr/\[error\] .*teachfloor webhook invalid_signature: the header starts with "sha256=": Teachfloor sends bare hex, client:/



=== TEST 5: a header of 64 characters that are not all hex digits
--- request eval
"POST /wh\n" . $::body
--- more_headers eval
"Teachfloor-Signature: " . ('g' x 64)
--- error_code: 401
--- error_log eval
qr/\[error\] .*teachfloor webhook invalid_signature: the header has a character that is not a hex digit, client:/



=== TEST 6: with several secrets, that none matched, and the body's length; never a secret
--- request eval
"POST /wh\n" . $::body
--- more_headers eval
::signed($::body, 'whsec_wrong')
--- error_code: 401
--- error_log eval
my $len = length $::body;
qr/\[error\] .*teachfloor webhook invalid_signature: the body \($len bytes\) matches none of the secrets, client:/
--- no_error_log
whsec_test
whsec_old
whsec_wrong



=== TEST 7: malformed JSON: where the parse stopped
--- request eval
"POST /wh\n" . '{"event":tru}'
--- more_headers eval
::signed('{"event":tru}')
--- error_code: 400
--- error_log eval
qr/\[error\] .*teachfloor webhook malformed_json: not JSON, parsing stopped at byte \d+ of 13, client:/



=== TEST 8: text after the object, with its offset
--- request eval
"POST /wh\n" . ::ev('2025-10-07T15:30:00Z') . ' x'
--- more_headers eval
::signed(::ev('2025-10-07T15:30:00Z') . ' x')
--- error_code: 400
--- error_log eval
my $at = length(::ev('2025-10-07T15:30:00Z')) + 1;
qr/\[error\] .*teachfloor webhook malformed_json: text after the JSON object at byte $at of \d+, client:/



=== TEST 9: an envelope whose data is not an object: the field and the rule
--- request eval
"POST /wh\n" . ::ev('2025-10-07T15:30:00Z', '[]')
--- more_headers eval
::signed(::ev('2025-10-07T15:30:00Z', '[]'))
--- error_code: 422
--- error_log eval
qr/\[error\] .*teachfloor webhook invalid_envelope, event "member\.joined": "data" is not an object, client:/



=== TEST 10: a time that is no RFC 3339 date-time
--- request eval
"POST /wh\n" . ::ev('07/10/2025 15:30')
--- more_headers eval
::signed(::ev('07/10/2025 15:30'))
--- error_code: 422
--- error_log eval
qr/\[error\] .*teachfloor webhook invalid_envelope, event "member\.joined": "timestamp" is not an RFC 3339 date-time, client:/



=== TEST 11: a stale event: its time and how far it is from now
--- request eval
"POST /wh\n" . ::ev('2025-10-07T15:30:00Z')
--- more_headers eval
::signed(::ev('2025-10-07T15:30:00Z'))
--- error_code: 401
--- error_log eval
qr/\[error\] .*teachfloor webhook stale_timestamp, event "member\.joined": event time "2025-10-07T15:30:00Z" is \d+ s before now, past the tolerance of 300 s, client:/



=== TEST 12: a method other than POST
--- request
GET /wh
--- error_code: 405
--- error_log eval
qr/\[error\] .*teachfloor webhook method_not_allowed: method GET, client:/



=== TEST 13: an event dropped on purpose is logged at info, not error
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  course.*;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . $::body
--- more_headers eval
::signed($::body)
--- error_code: 200
--- error_log eval
qr/\[info\] .*teachfloor webhook filtered, event "member\.joined", client:/
--- no_error_log
[error]



=== TEST 14: teachfloor_log_level warn lowers the rejection line
--- config
    location = /wh {
        teachfloor_webhook   on;
        teachfloor_secret    whsec_test;
        teachfloor_log_level warn;
        proxy_pass           http://app/received;
    }
--- request eval
"POST /wh\n" . $::body
--- error_code: 401
--- error_log eval
qr/\[warn\] .*teachfloor webhook missing_signature/
--- no_error_log
[error]



=== TEST 15: a retry of a delivered event (duplicate) is logged at info, not error
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_dedupe_zone zone=seen:1m;
}
--- config
    location = /wh {
        teachfloor_webhook        on;
        teachfloor_secret         whsec_test;
        teachfloor_dedupe         zone=seen;
        proxy_ignore_client_abort on;
        proxy_pass                http://app/received;
    }
--- request eval
["POST /wh\n" . $::body, "POST /wh\n" . $::body]
--- more_headers eval
[::signed($::body), ::signed($::body)]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^upstream: POST/, qr/^\{"result":"duplicate"\}$/]
--- no_error_log
[error]
