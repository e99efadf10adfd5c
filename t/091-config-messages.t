# vim:set ft= ts=4 sw=4 et fdm=marker:
# Configuration messages name the directive, the file and line, and the fix.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

sub gate {
    my ($extra) = @_;
    return qq{
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        $extra
        proxy_pass         http://app/received;
    }
};
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $UpstreamConfig)
        unless defined $block->http_config;
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: an unknown teachfloor_test_events value names the directive and lists the values
--- config eval
::gate('teachfloor_test_events acknowledge;')
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "acknowledge" in "teachfloor_test_events" directive, it must be "forward", "ack" or "reject" in .*nginx\.conf:\d+/



=== TEST 2: an unknown teachfloor_log_level value too
--- config eval
::gate('teachfloor_log_level debug;')
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "debug" in "teachfloor_log_level" directive, it must be "info", "notice", "warn" or "error"/



=== TEST 3: a "*" inside a segment: the pattern and why
--- config eval
::gate('teachfloor_events course.up*;')
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid event pattern "course\.up\*": "\*" is not a whole segment \(write "course\.\*", not "course\.up\*"\)/



=== TEST 4: an empty segment: the pattern and why
--- config eval
::gate('teachfloor_events member..joined;')
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid event pattern "member\.\.joined": it has an empty segment/



=== TEST 5: upper case in a pattern is allowed for custom names, with a warning
--- config eval
::gate('teachfloor_events member.* !Course.Deleted;')
--- request eval
"POST /wh\n" . TeachfloorTest::sample('member-joined')
--- more_headers eval
TeachfloorTest::signed(TeachfloorTest::sample('member-joined'))
--- error_code: 200
--- error_log eval
qr/\[warn\] .*event pattern "!Course\.Deleted" has upper-case letters: it matches only names spelled so, and Teachfloor's own event names are lower case/



=== TEST 6: a limit zone that is never declared: the teachfloor_limit line
--- config eval
::gate('teachfloor_limit zone=tenant;')
--- must_die
--- error_log eval
qr/\[emerg\] .*"teachfloor_limit" in .*nginx\.conf:\d+ uses zone "tenant" that has no "teachfloor_limit_zone"/



=== TEST 7: a dedupe zone that is never declared: the teachfloor_dedupe line
--- config eval
::gate('teachfloor_dedupe zone=seen;')
--- must_die
--- error_log eval
qr/\[emerg\] .*"teachfloor_dedupe" in .*nginx\.conf:\d+ uses zone "seen" that has no "teachfloor_dedupe_zone"/



=== TEST 8: a size on teachfloor_dedupe: where it belongs
--- config eval
::gate('teachfloor_dedupe zone=seen:4m;')
--- must_die
--- error_log eval
qr/\[emerg\] .*"teachfloor_dedupe" takes a zone's name: the size belongs on "teachfloor_dedupe_zone", as in "teachfloor_dedupe_zone zone=seen:4m;"/



=== TEST 9: a size on teachfloor_limit: where it belongs
--- config eval
::gate('teachfloor_limit zone=tenant:1m;')
--- must_die
--- error_log eval
qr/\[emerg\] .*"teachfloor_limit" takes a zone's name: a size belongs on "teachfloor_limit_zone"/
