# vim:set ft= ts=4 sw=4 et fdm=marker:
# Secrets that cannot silently fail: comment lines, white space, byte-order
# marks, control characters and NAME=value lines in secret files and in
# teachfloor_secret; secrets with names.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $body = sample('member-joined');
our $forwarded = "upstream: POST /received\nsignature: " . sig($body) . "\n" . $body;

our $FileGate = q{
    location = /wh {
        teachfloor_webhook     on;
        teachfloor_secret_file $TEST_NGINX_HTML_DIR/teachfloor.secret;
        add_header             X-Secret $teachfloor_secret_id always;
        proxy_pass             http://app/received;
    }
};

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $UpstreamConfig)
        unless defined $block->http_config;
    $block->set_value('config', $FileGate) unless defined $block->config;
    $block->set_value('request', "POST /wh\n" . $main::body)
        unless defined $block->request;
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: a line starting with "#" is a comment, not a secret: the real secret is the first one
--- user_files
>>> teachfloor.secret
# prod secret, rotated 2026-11
whsec_test
--- more_headers eval
::signed($::body)
--- error_code: 200
--- response_headers
X-Secret: 1
--- response_body eval
$::forwarded



=== TEST 2: ... and a body signed with the comment line is refused
--- user_files
>>> teachfloor.secret
# prod secret, rotated 2026-11
whsec_test
--- more_headers eval
::signed($::body, '# prod secret, rotated 2026-11')
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 3: a trailing space after a secret fails nginx -t, naming the file and line, never the secret
--- user_files eval
">>> teachfloor.secret\n# comment\nwhsec_test \n"
--- must_die
--- error_log eval
qr/\[emerg\] .*secret file ".*teachfloor\.secret", line 2: has white space after the secret/
--- no_error_log
whsec_test



=== TEST 4: a leading space fails nginx -t
--- user_files eval
">>> teachfloor.secret\n whsec_test\n"
--- must_die
--- error_log eval
qr/\[emerg\] .*secret file ".*teachfloor\.secret", line 1: the secret starts with white space/



=== TEST 5: a UTF-8 byte-order mark fails nginx -t
--- user_files eval
">>> teachfloor.secret\n\xef\xbb\xbfwhsec_test\n"
--- must_die
--- error_log eval
qr/\[emerg\] .*secret file ".*teachfloor\.secret" starts with a UTF-8 byte-order mark/



=== TEST 6: a control character in a secret fails nginx -t
--- user_files eval
">>> teachfloor.secret\nwhsec_old\nwhsec\x01test\n"
--- must_die
--- error_log eval
qr/\[emerg\] .*secret file ".*teachfloor\.secret", line 2: the secret has a control character/



=== TEST 7: text after a secret other than name= fails nginx -t
--- user_files eval
">>> teachfloor.secret\nwhsec_test primary\n"
--- must_die
--- error_log eval
qr/\[emerg\] .*secret file ".*teachfloor\.secret", line 1: only "name=..." may follow the secret/



=== TEST 8: a line shaped like NAME=value warns: the whole line is the secret
--- user_files eval
">>> teachfloor.secret\nTEACHFLOOR_SECRET=whsec_test\n"
--- more_headers eval
::signed($::body)
--- error_code: 401
--- response_body
{"result":"invalid_signature"}
--- error_log eval
qr/\[warn\] .*a secret looks like a shell assignment \(NAME=value\): the whole of it is taken as the secret/
--- no_error_log
whsec_test
TEACHFLOOR_SECRET



=== TEST 9: a named secret in the file: $teachfloor_secret_id is its name
--- user_files eval
">>> teachfloor.secret\nwhsec_old name=2026-q3\nwhsec_test name=2026-q4\n"
--- more_headers eval
::signed($::body)
--- error_code: 200
--- response_headers
X-Secret: 2026-q4
--- response_body eval
$::forwarded



=== TEST 10: teachfloor_secret with name=, and an unnamed one keeps its position
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_old name=previous;
        teachfloor_secret  whsec_test;
        add_header         X-Secret $teachfloor_secret_id always;
        proxy_pass         http://app/received;
    }
--- more_headers eval
::signed($::body)
--- error_code: 200
--- response_headers
X-Secret: 2
--- response_body eval
$::forwarded



=== TEST 11: a teachfloor_secret with white space around it fails nginx -t
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  "whsec_test ";
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"teachfloor_secret": the secret ends with white space in .*nginx\.conf:\d+/



=== TEST 12: a name with a character outside [A-Za-z0-9._-] fails nginx -t
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test "name=q4/prod";
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"teachfloor_secret": a secret's name may have only letters, digits/



=== TEST 13: a group-readable secret file warns with the fix
--- user_files
>>> teachfloor.secret
whsec_test
--- more_headers eval
::signed($::body)
--- error_code: 200
--- error_log eval
qr/\[warn\] .*secret file ".*teachfloor\.secret" is readable by group or others: "chmod 600 .*teachfloor\.secret"/



=== TEST 14: a base32 secret with "=" padding is no shell assignment: no warning, and no byte of it in the log
--- user_files eval
">>> teachfloor.secret\nJBSWY3DPEHPK3PXP====\n"
--- more_headers eval
::signed($::body, 'JBSWY3DPEHPK3PXP====')
--- error_code: 200
--- response_body eval
"upstream: POST /received\nsignature: " . ::sig($::body, 'JBSWY3DPEHPK3PXP====') . "\n" . $::body
--- no_error_log
shell assignment
JBSWY3DPEHPK3PXP
