# Self-test: less common paths of the local Test::Nginx::Socket (t/lib).
BEGIN {
    # these self-tests need the echo module (added to TEST_NGINX_LOAD_MODULES
    # when it is installed at the Debian path)
    my $echo = '/usr/lib/nginx/modules/ngx_http_echo_module.so';
    my $mods = $ENV{TEST_NGINX_LOAD_MODULES} // '';
    $ENV{TEST_NGINX_LOAD_MODULES} = "$mods $echo" if $mods !~ /echo/ && -f $echo;
}

use Test::Nginx::Socket;

if ($INC{'Test/Nginx/Socket.pm'} !~ m{t/lib/Test/Nginx/Socket\.pm$}) {
    plan skip_all => 'self-test of the t/lib Test::Nginx::Socket only';
} elsif (($ENV{TEST_NGINX_LOAD_MODULES} // '') !~ /echo/) {
    plan skip_all => 'needs the nginx echo module (TEST_NGINX_LOAD_MODULES)';
}
plan 'no_plan';

no_shuffle();
no_root_location();
worker_connections(128);

run_tests();

__DATA__

=== TEST 1: HEAD request (Content-Length without a body)
--- config
location = /h {
    return 200 "twelve bytes";
}
--- request
HEAD /h
--- response_headers
Content-Length: 12
--- response_body chomp



=== TEST 2: no --- config: the previous nginx keeps running
--- request
GET /h
--- response_body chomp
twelve bytes



=== TEST 3: abort: a timeout is not a failure
--- config
location = /slow {
    echo_sleep 2;
    echo late;
}
--- request
GET /slow
--- timeout: 200ms
--- abort
--- ignore_response



=== TEST 4: raw_request in packets with a delay between them
--- config
location = /p {
    echo_read_request_body;
    echo_request_body;
}
--- raw_request eval
["POST /p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n",
 "Content-Length: 5\r\n\r\nab",
 "cde"]
--- raw_request_middle_delay: 0.05
--- response_body chomp
abcde



=== TEST 5: several requests (one connection each), per-request more_headers
--- config
location = /h {
    return 200 $http_x_n;
}
--- request eval
["GET /h", "GET /h"]
--- more_headers eval
["X-N: one", "X-N: two"]
--- error_code eval
[200, 200]
--- response_body eval
["one", "two"]



=== TEST 6: no root location (nginx's default root is <prefix>/html), wait
--- config
location = /x { return 200; }
--- request
GET /missing.html
--- error_code: 404
--- wait: 0.05
--- error_log
servroot/html/missing.html" failed (2: No such file or directory)
--- no_error_log
[crit]
