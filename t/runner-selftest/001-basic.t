# Self-test for the local Test::Nginx::Socket implementation (t/lib).
# Needs stock nginx plus the echo module:
#   PATH=/usr/sbin:$PATH \
#   TEST_NGINX_LOAD_MODULES=/usr/lib/nginx/modules/ngx_http_echo_module.so \
#   prove -I t/lib t/runner-selftest/
BEGIN {
    # these self-tests need the echo module (added to TEST_NGINX_LOAD_MODULES
    # when it is installed at the Debian path)
    my $echo = '/usr/lib/nginx/modules/ngx_http_echo_module.so';
    my $mods = $ENV{TEST_NGINX_LOAD_MODULES} // '';
    $ENV{TEST_NGINX_LOAD_MODULES} = "$mods $echo" if $mods !~ /echo/ && -f $echo;
    $ENV{SELFTEST_GREETING} = 'hello from env';
}

use Test::Nginx::Socket;

if ($INC{'Test/Nginx/Socket.pm'} !~ m{t/lib/Test/Nginx/Socket\.pm$}) {
    plan skip_all => 'self-test of the t/lib Test::Nginx::Socket only';
} elsif (($ENV{TEST_NGINX_LOAD_MODULES} // '') !~ /echo/) {
    plan skip_all => 'needs the nginx echo module (TEST_NGINX_LOAD_MODULES)';
}
plan 'no_plan';

repeat_each(1);
no_shuffle();
master_on();
workers(2);
log_level('debug');
no_long_string();
env_to_nginx('SELFTEST_GREETING');

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

sub sign { my $s = shift; return "v1=" . join '', map { sprintf '%02x', ord } split //, $s }

run_tests();

__DATA__

=== TEST 1: plain return
--- config
location = /t {
    return 200 "hi";
}
--- request
GET /t
--- response_headers
Content-Type: text/plain
!X-Not-There
--- response_body chomp
hi
--- no_error_log
[error]



=== TEST 2: POST body echoed back, more_headers eval
--- config
location = /echo {
    add_header X-Sig $http_x_sig;
    echo_read_request_body;
    echo_request_body;
}
--- request
POST /echo
{"a":1}
--- more_headers eval
"X-Sig: " . main::sign("ab") . "\nContent-Type: application/json"
--- response_headers
X-Sig: v1=6162
--- response_body chomp
{"a":1}



=== TEST 3: error_log and no_error_log, with eval and qr//
--- config
location = /log {
    echo "logged";
}
--- request
GET /log?x=1
--- response_body
logged
--- error_log eval
[qr/http args: "x=\d"/, "http finalize request"]
--- no_error_log
[error]
[alert]



=== TEST 4: pipelined requests on one keep-alive connection
--- config
location = /a { return 200 "a"; }
location = /b { return 404; }
location = /c { echo c; }
--- pipelined_requests eval
["GET /a", "GET /b", "GET /c"]
--- error_code eval
[200, 404, 200]
--- response_body_like eval
["^a\$", "404 Not Found", "^c\n\$"]
--- no_error_log
[error]



=== TEST 5: raw_request
--- config
location = /raw { return 200 "raw ok"; }
--- raw_request eval
"GET /raw HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_body chomp
raw ok



=== TEST 6: http2 via curl
--- http2
--- config
location = /echo {
    add_header X-Proto $server_protocol;
    echo_read_request_body;
    echo_request_body;
}
--- request
POST /echo
hello h2
--- more_headers
X-Test: yes
--- response_headers
X-Proto: HTTP/2.0
--- response_body chomp
hello h2



=== TEST 7: must_die on an unknown directive
--- config
location = /t {
    foo_bar on;
}
--- must_die
--- error_log
unknown directive "foo_bar"



=== TEST 8: user_files under the html dir
--- user_files
>>> sub/foo.txt
hello world
--- config
--- request
GET /sub/foo.txt
--- response_body
hello world



=== TEST 9: env substitution and env_to_nginx
--- main_config
env SELFTEST_UNUSED;
--- config
location = /env {
    return 200 "port=$TEST_NGINX_SERVER_PORT html=$TEST_NGINX_HTML_DIR";
}
--- request
GET /env
--- response_body_like chomp
^port=\d+ html=/.+/html$



=== TEST 10: error_code and response_body_like
--- config
location = /nope { return 403; }
--- request
GET /nope
--- error_code: 403
--- response_body_like: 403 Forbidden
