# vim:set ft= ts=4 sw=4 et fdm=marker:
# Store and forward's configuration: what nginx -t refuses, and why, in the
# messages an operator reads; teachfloor_spool is not inherited.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;
use SpoolTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# the spool "s" and the upstream of t/inc/TeachfloorTest.pm
our $HttpConfig = $UpstreamConfig . q{
    teachfloor_spool_path $TEST_NGINX_SPOOL_DIR/s zone=s:1m retry=1s;
};

# a location with LINES
sub loc {
    my ($name, $lines) = @_;
    return qq{
    location $name {
        $lines
    }
};
}

our $Gate = qq{teachfloor_webhook on;\n        teachfloor_secret  whsec_test;};

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $HttpConfig)
        unless defined $block->http_config;
    SpoolTest::preprocess($block);
});

no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: a spool zone that no teachfloor_spool_path defines
--- config eval
::loc('= /wh', "$::Gate\n teachfloor_spool zone=nope;\n proxy_pass http://app;")
--- must_die
--- error_log eval
qr/\[emerg\] .*"teachfloor_spool" in \S+nginx\.conf:\d+ uses zone "nope", which no "teachfloor_spool_path" defines/



=== TEST 2: teachfloor_spool in a location that is no gate
--- config eval
::loc('= /wh', "teachfloor_spool zone=s;\n proxy_pass http://app;")
--- must_die
--- error_log eval
qr/\[emerg\] .*"teachfloor_spool" in \S+nginx\.conf:\d+ is not in a gate: set "teachfloor_webhook on" there/



=== TEST 3: a spool location without a content handler to deliver through
--- config eval
::loc('= /wh', "$::Gate\n teachfloor_spool zone=s;")
--- must_die
--- error_log eval
qr/\[emerg\] .*"teachfloor_spool" in \S+nginx\.conf:\d+ needs "proxy_pass" \(or another content handler\) in the same location: events are delivered through it/



=== TEST 4: two locations on one spool zone
--- config eval
::loc('= /wh', "$::Gate\n teachfloor_spool zone=s;\n proxy_pass http://app;")
. ::loc('= /wh2', "$::Gate\n teachfloor_spool zone=s;\n proxy_pass http://app;")
--- must_die
--- error_log eval
qr/\[emerg\] .*spool zone "s" is already used by the location in \S+nginx\.conf:\d+: a spool delivers through one location/



=== TEST 5: a named location
--- config eval
::loc('@wh', "$::Gate\n teachfloor_spool zone=s;\n proxy_pass http://app;")
--- must_die
--- error_log eval
qr/\[emerg\] .*"teachfloor_spool" directive cannot be used in a named location or an "if" block: set it in the location itself in \S+nginx\.conf:\d+/



=== TEST 6: an "if" block
--- config eval
::loc('= /wh', "$::Gate\n if (\$arg_x) {\n teachfloor_spool zone=s;\n }\n proxy_pass http://app;")
--- must_die
--- error_log eval
qr/\[emerg\] .*"teachfloor_spool" directive is not allowed here/



=== TEST 7: teachfloor_spool_path without a zone
--- http_config
    teachfloor_spool_path $TEST_NGINX_SPOOL_DIR/s max_age=1h;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"teachfloor_spool_path" must have "zone=NAME:SIZE"/



=== TEST 8: a retry schedule that is no list of times
--- http_config
    teachfloor_spool_path $TEST_NGINX_SPOOL_DIR/s zone=s:1m retry=1s,soon;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "retry=1s,soon": a list of up to \d+ times above zero, such as "retry=10s,30s,1m,5m,15m,1h"/



=== TEST 9: one zone, two spool paths
--- http_config
    teachfloor_spool_path $TEST_NGINX_SPOOL_DIR/s zone=s:1m;
    teachfloor_spool_path $TEST_NGINX_SPOOL_DIR/t zone=s:1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*spool zone "s" is already defined/



=== TEST 10: not inherited: a location nested in a spool's location is a synchronous gate (the app answers, no 202)
--- config eval
::loc('/wh/', "$::Gate\n teachfloor_spool zone=s;\n proxy_pass http://app;\n"
      . "location /wh/sync/ {\n proxy_pass http://app;\n }")
--- request eval
"POST /wh/sync/x\n" . ::ev(10)
--- error_code: 200
--- response_body eval
"upstream: POST /wh/sync/x\nsignature: " . TeachfloorTest::sig(::ev(10))
. "\n" . ::ev(10)



=== TEST 11: ... and the spool's own location answers 202 (same nginx)
--- request eval
"POST /wh/x\n" . ::ev(11)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 12: the URI a spooling gate's location was found with is kept where no configuration can read it (it holds addresses)
--- config eval
::loc('= /wh', "$::Gate\n teachfloor_spool zone=s;\n proxy_pass http://app;\n"
      . "add_header X-Matched \$teachfloor_spool_matched_uri;")
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown "teachfloor_spool_matched_uri" variable/



=== TEST 13: two zones, one directory by two names ("/./"): refused, as two zones would deliver each other's events
--- http_config
    teachfloor_spool_path $TEST_NGINX_SPOOL_DIR/s zone=s:1m;
    teachfloor_spool_path $TEST_NGINX_SPOOL_DIR/./s zone=t:1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*spool zones "[st]" and "[st]" have one directory, "\S+\/s" and "\S+\/s": each needs its own/



=== TEST 14: ... nor can "set" define that slot's name again, to read or write it (a record of pointers a delivery trusts)
--- config eval
::loc('= /wh', "$::Gate\n set \$teachfloor-spool-matched-uri \$http_x_evil;\n"
      . "teachfloor_spool zone=s;\n proxy_pass http://app;")
--- must_die
--- error_log eval
qr/\[emerg\] .*the duplicate "teachfloor-spool-matched-uri" variable/



=== TEST 15: ... nor "map", at the http level before any spool
--- http_config eval
"map \$uri \$teachfloor-spool-matched-uri { default \"\"; }\n" . $::HttpConfig
--- config eval
::loc('= /wh', "$::Gate\n teachfloor_spool zone=s;\n proxy_pass http://app;")
--- must_die
--- error_log eval
qr/\[emerg\] .*the duplicate "teachfloor-spool-matched-uri" variable/
