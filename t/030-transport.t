# vim:set ft= ts=4 sw=4 et fdm=marker:
# However the body arrives (one buffer, several, a temp file, chunked,
# HTTP/2), the gate verifies the bytes the upstream then receives; rejected
# requests leave keep-alive connections usable.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $small = sample('element-completed');

# a genuine event of about 40 KB, past any client_body_buffer_size used here
our $large = '{"event":"course.updated","timestamp":"2025-10-07T15:30:00Z","data":{"notes":"'
    . ('0123456789abcdef' x 2500) . '"}}';

our $forwarded_large = "upstream: POST /received\nsignature: " . sig($large) . "\n" . $large;

sub chunked {
    my ($body, $size) = @_;
    my $out = '';
    for (my $i = 0; $i < length $body; $i += $size) {
        my $c = substr($body, $i, $size);
        $out .= sprintf("%x\r\n%s\r\n", length $c, $c);
    }
    return $out . "0\r\n\r\n";
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
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: GET is answered 405 with Allow: POST
--- request
GET /wh
--- error_code: 405
--- response_headers
Allow: POST
Content-Type: application/json
--- response_body
{"result":"method_not_allowed"}
--- error_log
teachfloor webhook method_not_allowed



=== TEST 2: PUT with a signed body is 405 too
--- request eval
"PUT /wh\n" . $::small
--- more_headers eval
::signed($::small)
--- error_code: 405
--- response_body
{"result":"method_not_allowed"}



=== TEST 3: a body past client_body_buffer_size goes through a temp file, verified and forwarded whole
--- config
    location = /wh {
        client_body_buffer_size 4k;
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . $::large
--- more_headers eval
::signed($::large)
--- error_code: 200
--- response_body eval
$::forwarded_large
--- error_log
a client request body is buffered to a temporary file



=== TEST 4: a forged body in a temp file is rejected
--- config
    location = /wh {
        client_body_in_file_only clean;
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . $::large
--- more_headers eval
::signed($::large . 'x')
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 5: client_body_in_file_only: a small genuine body read back from its file
--- config
    location = /wh {
        client_body_in_file_only clean;
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . $::small
--- more_headers eval
::signed($::small)
--- error_code: 200
--- response_body eval
"upstream: POST /received\nsignature: " . ::sig($::small) . "\n" . $::small



=== TEST 6: a chunked body (many small chunks) is verified over the decoded bytes
--- raw_request eval
"POST /wh HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
. ::signed($::small) . "\r\n\r\n" . ::chunked($::small, 7)
--- error_code: 200
--- response_body eval
"upstream: POST /received\nsignature: " . ::sig($::small) . "\n" . $::small



=== TEST 7: a large chunked body spread over several buffers
--- config
    location = /wh {
        client_body_buffer_size 64k;
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- raw_request eval
"POST /wh HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
. ::signed($::large) . "\r\n\r\n" . ::chunked($::large, 1000)
--- error_code: 200
--- response_body eval
$::forwarded_large



=== TEST 8: over client_max_body_size: nginx's own 413, nothing forwarded
--- config
    location = /wh {
        client_max_body_size 1k;
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . $::large
--- more_headers eval
::signed($::large)
--- error_code: 413
--- response_body_like: 413 Request Entity Too Large
--- error_log
client intended to send too large body



=== TEST 9: keep-alive: after a forged request, the next request on the connection is served
--- pipelined_requests eval
["POST /wh\n" . $::small, "POST /wh\n" . $::small]
--- more_headers eval
::signed($::small, 'whsec_wrong')
--- error_code eval
[401, 401]
--- response_body eval
["{\"result\":\"invalid_signature\"}\n", "{\"result\":\"invalid_signature\"}\n"]



=== TEST 10: keep-alive: a body rejected before it is read (wrong method) is discarded, the next request works
--- pipelined_requests eval
["PUT /wh\n" . $::small, "POST /wh\n" . $::small]
--- more_headers eval
::signed($::small)
--- error_code eval
[405, 200]
--- response_body eval
["{\"result\":\"method_not_allowed\"}\n",
 "upstream: POST /received\nsignature: " . ::sig($::small) . "\n" . $::small]



=== TEST 11: keep-alive: a missing signature is rejected without reading the body, which is discarded
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
    location = /other {
        teachfloor_webhook          on;
        teachfloor_secret           whsec_test;
        teachfloor_signature_header X-Other-Signature;
        proxy_pass                  http://app/received;
    }
--- pipelined_requests eval
["POST /other\n" . $::small, "POST /wh\n" . $::small]
--- more_headers eval
::signed($::small)
--- error_code eval
[401, 200]
--- response_body eval
["{\"result\":\"missing_signature\"}\n",
 "upstream: POST /received\nsignature: " . ::sig($::small) . "\n" . $::small]



=== TEST 12: HTTP/2 (h2c): a genuine event is forwarded
--- http2
--- skip_eval: 2: ::real_runner_lacks_http2()
--- request eval
"POST /wh\n" . $::small
--- more_headers eval
::signed($::small)
--- error_code: 200
--- response_body eval
"upstream: POST /received\nsignature: " . ::sig($::small) . "\n" . $::small



=== TEST 13: HTTP/2 (h2c): a forged event is rejected
--- http2
--- skip_eval: 2: ::real_runner_lacks_http2()
--- request eval
"POST /wh\n" . $::small
--- more_headers eval
::signed($::small, 'whsec_wrong')
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 14: HTTP/2 (h2c): a body in a temp file
--- http2
--- skip_eval: 2: ::real_runner_lacks_http2()
--- config
    location = /wh {
        client_body_buffer_size 4k;
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . $::large
--- more_headers eval
::signed($::large)
--- error_code: 200
--- response_body eval
$::forwarded_large



=== TEST 15: Expect: 100-continue: nginx says 100 Continue, the event is then verified and forwarded
--- raw_request eval
"POST /wh HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: "
. length($::small) . "\r\n" . ::signed($::small) . "\r\n\r\n" . $::small
--- error_code: 100
--- response_body_like eval
qr/^HTTP\/1\.1 200 OK\r\n.*\r\n\r\n[0-9a-f]+\r\nupstream: POST \/received\nsignature: [0-9a-f]{64}\n\Q$::small\E\r\n0\r\n\r\n$/s



=== TEST 16: Expect: 100-continue with a malformed signature: 401 at once, without 100 Continue
--- raw_request eval
"POST /wh HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: "
. length($::small) . "\r\nTeachfloor-Signature: " . ("zz" x 32) . "\r\n\r\n" . $::small
--- error_code: 401
--- response_body
{"result":"invalid_signature"}
