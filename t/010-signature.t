# vim:set ft= ts=4 sw=4 et fdm=marker:
# Teachfloor-Signature: hex HMAC-SHA256 of the raw body, one header, several
# secrets for rotation, secrets from a file.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $body = sample('member-joined');
our $forwarded = "upstream: POST /received\nsignature: " . sig($body) . "\n" . $body;

# a hex string with every other digit upper-case
sub mixed_case {
    my $i = 0;
    return join '', map { $i++ % 2 ? uc : lc } split //, $_[0];
}

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
    if (!defined $block->request) {
        $block->set_value('request', "POST /wh\n" . $main::body);
    }
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: no signature header: 401 missing_signature
--- error_code: 401
--- response_body
{"result":"missing_signature"}
--- error_log
teachfloor webhook missing_signature



=== TEST 2: a digest of another body: 401 invalid_signature
--- more_headers eval
"Teachfloor-Signature: " . ::sig($::body . " ")
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 3: upper-case hex digits are accepted
--- more_headers eval
"Teachfloor-Signature: " . uc(::sig($::body))
--- error_code: 200
--- response_body eval
"upstream: POST /received\nsignature: " . uc(::sig($::body)) . "\n" . $::body



=== TEST 4: 63 hex digits: invalid_signature
--- more_headers eval
"Teachfloor-Signature: " . substr(::sig($::body), 1)
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 5: 65 hex digits: invalid_signature
--- more_headers eval
"Teachfloor-Signature: " . ::sig($::body) . "0"
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 6: a non-hex digit: invalid_signature
--- more_headers eval
"Teachfloor-Signature: g" . substr(::sig($::body), 1)
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 7: a prefixed digest (sha256=...): invalid_signature
--- more_headers eval
"Teachfloor-Signature: sha256=" . ::sig($::body)
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 8: two signature headers, even both right: invalid_signature
--- more_headers eval
"Teachfloor-Signature: " . ::sig($::body) . "\nTeachfloor-Signature: " . ::sig($::body)
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 9: an empty signature header: invalid_signature
--- more_headers
Teachfloor-Signature:
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 10: rotation: a body signed with the second of two secrets passes
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_old;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- more_headers eval
::signed($::body)
--- error_code: 200
--- response_body eval
$::forwarded



=== TEST 11: rotation: the first of two secrets passes too
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_secret  whsec_new;
        proxy_pass         http://app/received;
    }
--- more_headers eval
::signed($::body)
--- error_code: 200
--- response_body eval
$::forwarded



=== TEST 12: a secret set at server level is inherited by the location
--- config
    teachfloor_secret whsec_test;
    location = /wh {
        teachfloor_webhook on;
        proxy_pass         http://app/received;
    }
--- more_headers eval
::signed($::body)
--- error_code: 200
--- response_body eval
$::forwarded



=== TEST 13: a location that sets its own secrets replaces the inherited ones
--- config
    teachfloor_secret whsec_test;
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_other;
        proxy_pass         http://app/received;
    }
--- more_headers eval
::signed($::body)
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 14: a secret with variables is evaluated per request
--- config
    location = /wh {
        set $tenant test;
        teachfloor_webhook on;
        teachfloor_secret  whsec_$tenant;
        proxy_pass         http://app/received;
    }
--- more_headers eval
::signed($::body)
--- error_code: 200
--- response_body eval
$::forwarded



=== TEST 15: teachfloor_signature_header reads the digest from another header
--- config
    location = /wh {
        teachfloor_webhook          on;
        teachfloor_secret           whsec_test;
        teachfloor_signature_header X-Hook-Signature;
        proxy_pass                  http://app/received;
    }
--- more_headers eval
"X-Hook-Signature: " . ::sig($::body)
--- error_code: 200
--- response_body eval
"upstream: POST /received\nsignature: \n" . $::body



=== TEST 16: with another header configured, Teachfloor-Signature alone is missing_signature
--- config
    location = /wh {
        teachfloor_webhook          on;
        teachfloor_secret           whsec_test;
        teachfloor_signature_header X-Hook-Signature;
        proxy_pass                  http://app/received;
    }
--- more_headers eval
::signed($::body)
--- error_code: 401
--- response_body
{"result":"missing_signature"}



=== TEST 17: secrets from a file, one per line, CR and trailing newline stripped, blank lines skipped
--- user_files
>>> teachfloor.secret
whsec_old

whsec_test
--- config
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret_file $TEST_NGINX_HTML_DIR/teachfloor.secret;
        proxy_pass             http://app/received;
    }
--- more_headers eval
::signed($::body)
--- error_code: 200
--- response_body eval
$::forwarded



=== TEST 18: secrets from a file with CRLF line ends
--- user_files eval
">>> teachfloor.secret\nwhsec_test\r\n"
--- config
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret_file $TEST_NGINX_HTML_DIR/teachfloor.secret;
        proxy_pass             http://app/received;
    }
--- more_headers eval
::signed($::body)
--- error_code: 200
--- response_body eval
$::forwarded



=== TEST 19: a secret file readable by others is accepted with a warning
--- user_files
>>> teachfloor.secret
whsec_test
--- config
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret_file $TEST_NGINX_HTML_DIR/teachfloor.secret;
        proxy_pass             http://app/received;
    }
--- more_headers eval
::signed($::body)
--- error_code: 200
--- error_log eval
qr/\[warn\] .*secret file ".*teachfloor\.secret" is readable by group or others/



=== TEST 20: a missing secret file fails nginx -t
--- config
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret_file $TEST_NGINX_HTML_DIR/no-such.secret;
        proxy_pass             http://app/received;
    }
--- must_die
--- error_log eval
qr/open\(\) ".*no-such\.secret" failed/



=== TEST 21: an empty secret file fails nginx -t
--- user_files eval
">>> empty.secret\n\n"
--- config
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret_file $TEST_NGINX_HTML_DIR/empty.secret;
        proxy_pass             http://app/received;
    }
--- must_die
--- error_log eval
qr/secret file ".*empty\.secret" has no secret/



=== TEST 22: secrets from the file and from teachfloor_secret add up
--- user_files
>>> teachfloor.secret
whsec_old
--- config
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret_file $TEST_NGINX_HTML_DIR/teachfloor.secret;
        teachfloor_secret      whsec_test;
        proxy_pass             http://app/received;
    }
--- more_headers eval
::signed($::body)
--- error_code: 200
--- response_body eval
$::forwarded



=== TEST 23: rejections never log the secret or the body
--- more_headers eval
::signed($::body, 'whsec_wrong')
--- error_code: 401
--- no_error_log
whsec_test
whsec_wrong
mem_abc123



=== TEST 24: teachfloor_log_level sets the level of the rejection line
--- config
    location = /wh {
        teachfloor_webhook   on;
        teachfloor_secret    whsec_test;
        teachfloor_log_level error;
        proxy_pass           http://app/received;
    }
--- error_code: 401
--- error_log eval
qr/\[error\] .*teachfloor webhook missing_signature/



=== TEST 25: a secret with "$" in it is taken as written from a secret file
--- user_files
>>> teachfloor.secret
whsec_$ecret$part
--- config
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret_file $TEST_NGINX_HTML_DIR/teachfloor.secret;
        proxy_pass             http://app/received;
    }
--- more_headers eval
::signed($::body, 'whsec_$ecret$part')
--- error_code: 200
--- response_body eval
"upstream: POST /received\nsignature: " . ::sig($::body, 'whsec_$ecret$part') . "\n" . $::body



=== TEST 26: a digest that differs from the right one only in its last hex digit: invalid_signature, not forwarded
--- more_headers eval
my $s = ::sig($::body);
"Teachfloor-Signature: " . substr($s, 0, 63) . (substr($s, 63) eq '0' ? '1' : '0')
--- error_code: 401
--- response_body
{"result":"invalid_signature"}
--- error_log
teachfloor webhook invalid_signature



=== TEST 27: a digest that differs from the right one only in its first hex digit: invalid_signature, not forwarded
--- more_headers eval
my $s = ::sig($::body);
"Teachfloor-Signature: " . (substr($s, 0, 1) eq '0' ? '1' : '0') . substr($s, 1)
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 28: the right digest in mixed case is accepted (either case, as documented)
--- more_headers eval
"Teachfloor-Signature: " . ::mixed_case(::sig($::body))
--- error_code: 200
--- response_body eval
"upstream: POST /received\nsignature: " . ::mixed_case(::sig($::body)) . "\n" . $::body
