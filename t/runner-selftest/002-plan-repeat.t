# Self-test: explicit plan, repeat_each(2), shuffled blocks, block
# preprocessor with $HttpConfig, chunked responses, grep_error_log,
# per-block log_level.  Exactly 3 tests per block and repetition.
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

repeat_each(2);

plan tests => repeat_each() * (blocks() * 3);

our $HttpConfig = qq{
    map \$uri \$selftest_tag {
        default "tagged";
    }
};

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', $HttpConfig);
    }

    if (!defined $block->no_error_log && !defined $block->grep_error_log) {
        $block->set_value('no_error_log', "[error]\n");
    }
});

run_tests();

__DATA__

=== TEST 1: chunked response from the echo module
--- config
location = /t {
    echo hello;
    echo world;
}
--- request
GET /t
--- response_body
hello
world



=== TEST 2: http_config from the preprocessor
--- config
location = /t {
    return 200 $selftest_tag;
}
--- request
GET /t
--- response_body chomp
tagged



=== TEST 3: grep_error_log on the debug log
--- config
location = /t {
    return 204;
}
--- request
GET /t?selftest-marker-42
--- error_code: 204
--- grep_error_log eval
qr/request line: "GET \/t\?selftest-marker-\d+/
--- grep_error_log_out
request line: "GET /t?selftest-marker-42



=== TEST 4: response_headers_like
--- config
location = /t {
    add_header X-Time "t=$msec";
    return 200 "ok";
}
--- request
GET /t
--- response_headers_like
X-Time: t=\d+\.\d+
--- response_body chomp
ok



=== TEST 5: per-block log_level
--- log_level: info
--- config
location = /t {
    echo quiet;
}
--- request
GET /t
--- response_body
quiet
--- no_error_log
[debug]



=== TEST 6: error_code_like, chunked request body
--- config
location = /t {
    echo_read_request_body;
    echo_request_body;
}
--- more_headers
Transfer-Encoding: chunked
--- request eval
"POST /t
5\r
hello\r
0\r
\r
"
--- error_code_like: ^2\d\d$
--- response_body chomp
hello
