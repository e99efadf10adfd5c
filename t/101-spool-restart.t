# vim:set ft= ts=4 sw=4 et fdm=marker:
# Store and forward across what happens to nginx while events wait: stop
# and start, reload (HUP), binary upgrade (USR2), kill -9 of the worker
# delivering an event, kill -9 of the master and its workers.  Every event
# answered 202 reaches the app once nginx is back: once, or twice when the
# worker delivering it was killed (never more, never lost).  And the pace
# with two workers.  Blocks titled "(same nginx)" run against the nginx of
# the block before; a block with a configuration of its own starts nginx
# again (stop, then start).

our $SkipReason;

BEGIN {
    # a block's configuration must restart nginx, not reload it
    $SkipReason = "each configuration needs a restart, not a reload"
        if $ENV{TEST_NGINX_USE_HUP};

    # the "(same nginx)" blocks need the nginx of the block before, which
    # the runners start again for every block under valgrind
    $SkipReason = "its blocks share one nginx, restarted for each block "
                  . "under valgrind"
        if $ENV{TEST_NGINX_USE_VALGRIND} || $ENV{TEST_NGINX_CHECK_LEAK};
}

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket $SkipReason ? (skip_all => $SkipReason) : ('no_plan');
use TeachfloorTest;
use SpoolTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

master_on();
workers(2);
no_shuffle();

add_block_preprocessor(\&SpoolTest::preprocess);

no_long_string();
run_tests();

__DATA__

=== TEST 1: stop and start: two events are queued while the app cannot be reached (the upstream is wrong) ...
--- http_config eval
::http_nowhere('restart', 'retry=1s')
--- config eval
::gate('restart')
--- init
::app_start(); ::app_reset();
--- post_events: 1 2



=== TEST 2: ... each was tried once; a crash left a partial file in tmp/ two minutes ago (same nginx)
--- init
::wait_until(sub { (grep { /\.state$/ } ::spool_names('restart', 'queue')) == 2 });
my $partial = "$SpoolTest::SpoolDir/restart/tmp/0000000000001-00000001-00000001";
SpoolTest::write_file($partial, "teachfloor-spool 1 00000004");
utime time - 120, time - 120, $partial or die "utime: $!";
::snapshot('restart');
--- request
GET /snapshot
--- response_body eval
"tmp: E1\nqueue: E2 E2.state E3 E3.state\ndead:\nrequeue:\n"
. "queue/E2.state: attempts 1, error no answer (502)\n"
. "queue/E3.state: attempts 1, error no answer (502)\n"
. ::metrics('restart', queued => 2, unreachable => 2, events => 2,
            bytes => 'SIZE(queue)')



=== TEST 3: ... nginx stopped, the upstream fixed, nginx started: both events delivered once, at their second attempt; the partial file removed, never delivered
--- http_config eval
::http('restart', 'retry=1s')
--- config eval
::gate('restart')
--- init
::wait_until(sub { ::app_requests() >= 2 && !::spool_names('restart', 'queue') });
sleep 1.5;    # longer than retry=1s: a second delivery would be there
::snapshot('restart', sorted => 1);
--- request
GET /snapshot
--- response_body eval
::got(1) . ::got(2)
. "tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('restart', delivered => 2, count => 2)
--- error_log eval
[qr/\[notice\] .*teachfloor spool "restart": removed 1 unfinished/,
 qr/\[notice\] .*teachfloor spool "restart": 2 events wait in queue\//,
 qr/\[info\] .*teachfloor spool "restart": delivered ${\ ::queued_name()}, status 200, attempt 2/]
--- no_error_log
attempt 1,



=== TEST 4: reload: an event is queued while the app cannot be reached ...
--- http_config eval
::http_nowhere('reload', 'retry=1s')
--- config eval
::gate('reload')
--- init
::app_start(); ::app_reset();
--- request eval
"POST /wh?n=4\n" . ::ev(4)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 5: ... the upstream fixed and nginx reloaded (HUP): the new workers deliver it once, at its second attempt; the counters kept (same nginx)
--- init
::wait_until(sub { grep { /\.state$/ } ::spool_names('reload', 'queue') });
::fix_upstream_and_reload();
::wait_until(sub { ::app_requests() >= 1 && !::spool_names('reload', 'queue') });
sleep 1.5;
::snapshot('reload');
--- request
GET /snapshot
--- response_body eval
::got(4)
. "tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('reload', queued => 1, delivered => 1, unreachable => 1,
            count => 1)
--- error_log eval
qr/\[info\] .*teachfloor spool "reload": delivered ${\ ::queued_name()}, status 200, attempt 2/



=== TEST 6: kill -9 of the worker delivering an event: the app is slow (3 s) ...
--- http_config eval
::http('killworker', 'retry=1s')
--- config eval
::gate('killworker')
--- init
::app_start(); ::app_reset(); ::app_set(delay => 3);
--- request eval
"POST /wh?n=6\n" . ::ev(6)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 7: ... the worker dies while the app works on the event: another process delivers it again, the same body and signature; one repeat, no more (same nginx)
--- init
::wait_until(sub { ::app_requests() >= 1 });
my ($worker) = ::app_pids();
kill 'KILL', $worker or die "kill $worker: $!";
::app_set(delay => 0);
::wait_until(sub { ::app_requests() >= 2 && !::spool_names('killworker', 'queue') });
sleep 1.5;
::snapshot('killworker');
--- request
GET /snapshot
--- response_body eval
::got(6) . ::got(6)
. "tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('killworker', queued => 1, delivered => 1, count => 1)
--- error_log eval
qr/\[warn\] .*teachfloor spool "killworker": process \d+ died delivering ${\ ::queued_name()}: queued again/



=== TEST 8: kill -9 of the master and its workers: an event is queued while the app cannot be reached ...
--- http_config eval
::http_nowhere('killall', 'retry=1s')
--- config eval
::gate('killall')
--- init
::app_start(); ::app_reset();
--- request eval
"POST /wh?n=8\n" . ::ev(8)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 9: ... and tried once (same nginx)
--- init
::wait_until(sub { grep { /\.state$/ } ::spool_names('killall', 'queue') });
::snapshot('killall');
--- request
GET /snapshot
--- response_body eval
"tmp:\nqueue: E1 E1.state\ndead:\nrequeue:\n"
. "queue/E1.state: attempts 1, error no answer (502)\n"
. ::metrics('killall', queued => 1, unreachable => 1, events => 1,
            bytes => 'SIZE(queue)')



=== TEST 10: ... nginx is killed (kill -9 of all its processes) and started again, the upstream fixed: delivered once, at its second attempt
--- kill_nginx_first
--- http_config eval
::http('killall', 'retry=1s')
--- config eval
::gate('killall')
--- init
::wait_until(sub { ::app_requests() >= 1 && !::spool_names('killall', 'queue') });
sleep 1.5;
::snapshot('killall');
--- request
GET /snapshot
--- response_body eval
::got(8)
. "tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('killall', delivered => 1, count => 1)
--- error_log eval
[qr/\[notice\] .*teachfloor spool "killall": 1 events wait in queue\//,
 qr/\[info\] .*teachfloor spool "killall": delivered ${\ ::queued_name()}, status 200, attempt 2/]



=== TEST 11: pace=1 with two workers: five events accepted at once for a slow app (0.5 s each) ...
--- http_config eval
::http('pace', 'retry=1s pace=1')
--- config eval
::gate('pace')
--- init
::app_start(); ::app_reset(); ::app_set(delay => 0.5);
--- post_events: 1 5



=== TEST 12: ... are delivered one at a time, each once (same nginx)
--- init
::wait_until(sub { ::app_requests() >= 5 && !::spool_names('pace', 'queue') }, 15);
sleep 1.5;
::snapshot('pace', sorted => 1, max => 1);
--- request
GET /snapshot
--- response_body eval
CORE::join('', map { ::got($_) } 1 .. 5)
. "tmp:\nqueue:\ndead:\nrequeue:\n"
. "app at once: 1\n"
. ::metrics('pace', queued => 5, delivered => 5, count => 5)



=== TEST 13: binary upgrade (USR2): an event is queued, the app answers 503 ...
--- http_config eval
::http('upgrade', 'retry=1s')
--- config eval
::gate('upgrade')
--- init
::app_start(); ::app_reset(); ::app_set(status => 503);
--- request eval
"POST /wh?n=13\n" . ::ev(13)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 14: ... the app recovers as the new binary starts next to the old one: the old workers and the new ones (a spool zone each, the new one rebuilt from queue/) both hold the event for 3 s, then the old master quits: delivered once (same nginx)
--- init
::wait_until(sub { grep { /\.state$/ } ::spool_names('upgrade', 'queue') });
::app_set(status => 200);
::upgrade_binary(3);
::wait_until(sub { ::app_requests() >= 2 && !::spool_names('upgrade', 'queue') });
sleep 1.5;
::snapshot('upgrade');
--- request
GET /snapshot
--- response_body_like eval
qr{\A(?:\Q${\ ::got(13, 503)}\E)+\Q${\ ::got(13)}\Etmp:
queue:
dead:
requeue:
}
--- no_error_log
[alert]
