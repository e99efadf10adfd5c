# vim:set ft= ts=4 sw=4 et fdm=marker:
# Store and forward (teachfloor_spool_path, teachfloor_spool): an accepted
# event is answered 202 once it is on disk, then delivered to a real app
# (t/inc/spool-app.pl) that can be down, failing or slow; retries, dead
# letters and requeue, the pace, dedupe, a full spool and a failing disk.
# Each block checks what a user relies on: the answer, what the app
# received and how many times, the files in the spool, the log, the
# metrics (see snapshot() in t/inc/SpoolTest.pm).  Blocks titled
# "(same nginx)" run against the nginx of the block before.

our $SkipReason;

BEGIN {
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
use IO::Socket::IP;

# TESTs 5 and 6 need an IPv6 loopback to send from
sub no_ipv6 {
    my $s = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0,
                                Listen => 1);
    return 0 if $s;
    Test::More::diag("$0: no IPv6 loopback here: TESTs 5 and 6 skipped");
    return 1;
}

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

master_on();
no_shuffle();

add_block_preprocessor(\&SpoolTest::preprocess);

no_long_string();
run_tests();

__DATA__

=== TEST 1: without a spool, the gate forwards the event to the app and answers with the app's answer ...
--- http_config eval
::http('healthy', 'retry=1s')
--- config eval
::gate('healthy') =~ s/teachfloor_spool   zone=healthy;/teachfloor_spool   off;/r
--- init
::app_start(); ::app_reset();
--- request eval
"POST /wh?n=1\n" . ::ev(1)
--- error_code: 200
--- response_body
ok



=== TEST 2: ... what the app received (the delivery from the spool must be the same)
--- init
::snapshot('healthy');
--- request
GET /snapshot
--- response_body eval
::got(1)
. "tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('healthy')



=== TEST 3: a healthy app: the event is answered 202 queued once it is on disk
--- http_config eval
::http('healthy', 'retry=1s')
--- config eval
::gate('healthy')
--- init
::app_reset(); ::app_start();
--- request eval
"POST /wh?n=1\n" . ::ev(1)
--- error_code: 202
--- response_headers
Content-Type: application/json
--- response_body
{"result":"queued"}
--- error_log eval
qr/\[info\] .*teachfloor spool "healthy": queued ${\ ::queued_name()}/



=== TEST 4: ... and the app receives it once, at once: the body byte for byte, the signature it can verify, $teachfloor_event and the sender's address by proxy_set_header; the spool is empty (same nginx)
--- init
::wait_until(sub { ::app_requests() >= 1 && !::spool_names('healthy', 'queue') });
sleep 1.5;    # longer than retry=1s: a second delivery would be there
::snapshot('healthy');
--- request
GET /snapshot
--- response_body eval
::got(1)
. "tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('healthy', queued => 1, delivered => 1, count => 1)
--- error_log eval
qr/\[info\] .*teachfloor spool "healthy": delivered ${\ ::queued_name()}, status 200, attempt 1/
--- no_error_log
failed:
[alert]



=== TEST 5: $remote_addr in a delivery is the sender's: an event sent from ::1 ...
--- skip_eval: 2: ::no_ipv6()
--- http_config eval
::http('v6', 'retry=1s')
--- config eval
"listen [::1]:\$TEST_NGINX_SERVER_PORT;\n" . ::gate('v6')
--- init
::app_start(); ::app_reset();
SpoolTest::write_file(Test::Nginx::Socket::html_dir() . "/v6-answer", ::post_v6(5));
--- request
GET /v6-answer
--- response_body
202 {"result":"queued"}



=== TEST 6: ... reaches the app with X-Remote: ::1 (same nginx)
--- skip_eval: 2: ::no_ipv6()
--- init
::wait_until(sub { ::app_requests() >= 1 && !::spool_names('v6', 'queue') });
::snapshot('v6');
--- request
GET /snapshot
--- response_body eval
::got(5, 200, undef, '::1')
. "tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('v6', queued => 1, delivered => 1, count => 1)



=== TEST 7: only an event that passed every check is stored: one its filter does not want is answered 200 filtered ...
--- http_config eval
::http('checks', 'retry=1s')
--- config eval
::gate('checks', 'teachfloor_events course.*;')
--- init
::app_start(); ::app_reset();
--- request eval
"POST /wh?n=7\n" . ::ev(7)
--- error_code: 200
--- response_body
{"result":"filtered"}



=== TEST 8: ... one with a wrong signature 401 invalid_signature (same nginx) ...
--- request eval
"POST /wh?n=8\n" . ::ev(8)
--- more_headers eval
TeachfloorTest::signed(::ev(8), 'whsec_wrong')
--- error_code: 401
--- response_body
{"result":"invalid_signature"}



=== TEST 9: ... and neither is stored or delivered (same nginx)
--- init
sleep 1.5;
::snapshot('checks');
--- request
GET /snapshot
--- response_body eval
"tmp:\nqueue:\ndead:\nrequeue:\n" . ::metrics('checks')



=== TEST 10: the app is down (connection refused): still 202
--- http_config eval
::http('down', 'retry=2s')
--- config eval
::gate('down')
--- init
::app_stop(); ::app_reset();
--- request eval
"POST /wh?n=3\n" . ::ev(3)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 11: ... the first attempt found no app: the event waits in queue/ with its state, counted as unreachable (same nginx)
--- init
::wait_until(sub { grep { /\.state$/ } ::spool_names('down', 'queue') });
::snapshot('down');
--- request
GET /snapshot
--- response_body eval
"tmp:\nqueue: E1 E1.state\ndead:\nrequeue:\n"
. "queue/E1.state: attempts 1, error no answer (502)\n"
. ::metrics('down', queued => 1, unreachable => 1, events => 1,
            bytes => 'SIZE(queue)')
--- error_log eval
qr/\[warn\] .*teachfloor spool "down": delivery of ${\ ::queued_name()} failed: no answer \(502\); attempt 1, the next in 2000 ms/



=== TEST 12: ... the app comes up: the retry delivers it, once (same nginx)
--- init
::app_start();
::wait_until(sub { ::app_requests() >= 1 && !::spool_names('down', 'queue') });
sleep 2.5;    # longer than retry=2s
::snapshot('down');
--- request
GET /snapshot
--- response_body eval
::got(3)
. "tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('down', queued => 1, delivered => 1, unreachable => 1, count => 1)
--- error_log eval
qr/\[info\] .*teachfloor spool "down": delivered ${\ ::queued_name()}, status 200, attempt 2/



=== TEST 13: the app takes longer than proxy_read_timeout (1 s): 202 ...
--- http_config eval
::http('timeout', 'retry=3s')
--- config eval
::gate('timeout', 'proxy_read_timeout 1s;')
--- init
::app_start(); ::app_reset(); ::app_set(delay => 2);
--- request eval
"POST /wh?n=13\n" . ::ev(13)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 14: ... the attempt timed out: no answer (504), retried, counted as unreachable (same nginx)
--- init
::wait_until(sub { grep { /\.state$/ } ::spool_names('timeout', 'queue') });
::app_set(delay => 0);
::snapshot('timeout');
--- request
GET /snapshot
--- response_body eval
::got(13)
. "tmp:\nqueue: E1 E1.state\ndead:\nrequeue:\n"
. "queue/E1.state: attempts 1, error no answer (504)\n"
. ::metrics('timeout', queued => 1, unreachable => 1, events => 1,
            bytes => 'SIZE(queue)')
--- error_log eval
qr/\[warn\] .*teachfloor spool "timeout": delivery of ${\ ::queued_name()} failed: no answer \(504\); attempt 1, the next in 3000 ms/



=== TEST 15: the app answers 503: 202 all the same
--- http_config eval
::http('failing', 'retry=2s')
--- config eval
::gate('failing')
--- init
::app_start(); ::app_reset(); ::app_set(status => 503);
--- request eval
"POST /wh?n=6\n" . ::ev(6)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 16: ... the app got the event and answered 503: it waits, counted as a status retry (same nginx)
--- init
::wait_until(sub { grep { /\.state$/ } ::spool_names('failing', 'queue') });
::snapshot('failing');
--- request
GET /snapshot
--- response_body eval
::got(6, 503)
. "tmp:\nqueue: E1 E1.state\ndead:\nrequeue:\n"
. "queue/E1.state: attempts 1, error status 503\n"
. ::metrics('failing', queued => 1, status => 1, events => 1,
            bytes => 'SIZE(queue)')
--- error_log eval
qr/\[warn\] .*teachfloor spool "failing": delivery of ${\ ::queued_name()} failed: status 503; attempt 1, the next in 2000 ms/



=== TEST 17: ... the app recovers: delivered on the next attempt, then no more (same nginx)
--- init
::app_set(status => 200);
::wait_until(sub { ::app_requests() >= 2 && !::spool_names('failing', 'queue') });
sleep 2.5;
::snapshot('failing');
--- request
GET /snapshot
--- response_body eval
::got(6, 503) . ::got(6)
. "tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('failing', queued => 1, delivered => 1, status => 1, count => 1)
--- error_log eval
qr/\[info\] .*teachfloor spool "failing": delivered ${\ ::queued_name()}, status 200, attempt 2/



=== TEST 18: a body of 64 KiB, past client_body_buffer_size (nginx keeps it in a temp file) ...
--- http_config eval
::http('bigbody', 'retry=1s')
--- config eval
::gate('bigbody', 'client_body_buffer_size 1k;')
--- init
::app_start(); ::app_reset();
--- request eval
"POST /wh?n=11\n" . ::ev(11, 65536)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 19: ... is stored and delivered byte for byte (same nginx)
--- init
::wait_until(sub { ::app_requests() >= 1 && !::spool_names('bigbody', 'queue') });
sleep 1.5;
::snapshot('bigbody');
--- request
GET /snapshot
--- response_body eval
::got(11, 200, 65536)
. "tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('bigbody', queued => 1, delivered => 1, count => 1)



=== TEST 20: threads=off: the worker writes the event itself, and answers 202 ...
--- http_config eval
::http('nothreads', 'retry=1s threads=off')
--- config eval
::gate('nothreads', 'client_body_buffer_size 1k;')
--- init
::app_start(); ::app_reset();
--- request eval
"POST /wh?n=13\n" . ::ev(13, 4096)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 21: ... then delivers it, once (same nginx)
--- init
::wait_until(sub { ::app_requests() >= 1 && !::spool_names('nothreads', 'queue') });
sleep 1.5;
::snapshot('nothreads');
--- request
GET /snapshot
--- response_body eval
::got(13, 200, 4096)
. "tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('nothreads', queued => 1, delivered => 1, count => 1)



=== TEST 22: dedupe: an event is queued ...
--- http_config eval
::http('dedupe', 'retry=1s', 'teachfloor_dedupe_zone zone=seen:1m;')
--- config eval
::gate('dedupe', 'teachfloor_dedupe zone=seen;')
--- init
::app_start(); ::app_reset(); ::app_set(delay => 1);
--- request eval
"POST /wh?n=9\n" . ::ev(9)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 23: ... Teachfloor's retry of it, while it is being delivered, is a duplicate (same nginx)
--- request eval
"POST /wh?n=9\n" . ::ev(9)
--- error_code: 200
--- response_body
{"result":"duplicate"}



=== TEST 24: ... and so is a retry after its delivery; the app received it once (same nginx)
--- init
::wait_until(sub { ::app_requests() >= 1 && !::spool_names('dedupe', 'queue') });
--- request eval
"POST /wh?n=9\n" . ::ev(9)
--- error_code: 200
--- response_body
{"result":"duplicate"}



=== TEST 25: ... (same nginx)
--- init
sleep 1.5;
::snapshot('dedupe');
--- request
GET /snapshot
--- response_body eval
::got(9)
. "tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('dedupe', queued => 1, delivered => 1, count => 1)



=== TEST 26: a full spool (max_size=100, less than one event): 503 spool_unavailable, so that Teachfloor retries
--- http_config eval
::http('full', 'retry=1s max_size=100', 'teachfloor_dedupe_zone zone=seen:1m;')
--- config eval
::gate('full', 'teachfloor_dedupe zone=seen;')
--- init
::app_start(); ::app_reset();
--- request eval
"POST /wh?n=13\n" . ::ev(13)
--- error_code: 503
--- response_body
{"result":"spool_unavailable"}
--- error_log eval
qr/\[error\] .*teachfloor spool "full" is full \(0 bytes in 0 events\): answered 503, the sender will retry/



=== TEST 27: ... the dedupe mark is released: Teachfloor's retry is refused the same way, not taken for a duplicate (same nginx)
--- request eval
"POST /wh?n=13\n" . ::ev(13)
--- error_code: 503
--- response_body
{"result":"spool_unavailable"}



=== TEST 28: ... nothing stored, nothing delivered, counted as refused for "full" (same nginx)
--- init
sleep 1.5;
::snapshot('full');
--- request
GET /snapshot
--- response_body eval
"tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('full', full => 2)



=== TEST 29: a failing disk (tmp/ is no directory, open() fails): 503 spool_unavailable, the error logged
--- http_config eval
::http('disk', 'retry=1s', 'teachfloor_dedupe_zone zone=seen:1m;')
--- config eval
::gate('disk', 'teachfloor_dedupe zone=seen;')
--- init
::app_start(); ::app_reset();
rename "$SpoolTest::SpoolDir/disk/tmp", "$SpoolTest::SpoolDir/disk/tmp.away"
    or die "rename: $!";
SpoolTest::write_file("$SpoolTest::SpoolDir/disk/tmp", "not a directory\n");
--- request eval
"POST /wh?n=16\n" . ::ev(16)
--- error_code: 503
--- response_body
{"result":"spool_unavailable"}
--- error_log eval
qr{\[error\] .*open\(\) failed for ".*/disk/tmp/${\ ::queued_name()}": answered 503, the sender will retry \(20: Not a directory\)}



=== TEST 30: ... nothing delivered, counted as refused for "error" (same nginx)
--- init
sleep 1.5;
::snapshot('disk');
--- request
GET /snapshot
--- response_body eval
"tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('disk', error => 1)



=== TEST 31: ... the disk is back: Teachfloor's retry is queued (the failed attempt left no dedupe mark) (same nginx)
--- init
unlink "$SpoolTest::SpoolDir/disk/tmp";
rename "$SpoolTest::SpoolDir/disk/tmp.away", "$SpoolTest::SpoolDir/disk/tmp"
    or die "rename: $!";
--- request eval
"POST /wh?n=16\n" . ::ev(16)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 32: ... and delivered once (same nginx)
--- init
::wait_until(sub { ::app_requests() >= 1 && !::spool_names('disk', 'queue') });
sleep 1.5;
::snapshot('disk');
--- request
GET /snapshot
--- response_body eval
::got(16)
. "tmp:\nqueue:\ndead:\nrequeue:\n"
. ::metrics('disk', queued => 1, delivered => 1, error => 1, count => 1)



=== TEST 33: pace=3: five events accepted at once for a slow app (1 s each) ...
--- http_config eval
::http('pace3', 'retry=1s pace=3')
--- config eval
::gate('pace3')
--- init
::app_start(); ::app_reset(); ::app_set(delay => 1);
--- post_events: 20 24



=== TEST 34: ... reach the app three at a time, never more (same nginx)
--- init
::wait_until(sub { ::app_requests() >= 5 && !::spool_names('pace3', 'queue') }, 15);
::snapshot('pace3', max => 1);
--- request
GET /snapshot
--- response_body_like
^(?:app: 200 POST /app\?n=2[0-4] sig=ok [^\n]+\n){5}tmp:
queue:
dead:
requeue:
app at once: 3



=== TEST 35: dead letters: the app always answers 500, max_age=2s ...
--- http_config eval
::http('dead', 'retry=1s max_age=2s')
--- config eval
::gate('dead')
--- init
::app_start(); ::app_reset(); ::app_set(status => 500);
--- request eval
"POST /wh?n=24\n" . ::ev(24)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 36: ... the event is retried until max_age, then moved to dead/ with its state saying why, logged at error, counted (same nginx)
--- init
::wait_until(sub { ::spool_names('dead', 'dead') == 2 });
sleep 1.5;    # nothing more is tried
::snapshot('dead');
--- request
GET /snapshot
--- response_body_like
^(?:app: 500 POST /app\?n=24 sig=ok [^\n]+\n){2,3}tmp:
queue:
dead: E1 E1\.state
requeue:
dead/E1\.state: attempts [23], error status 500
teachfloor_spool_queued_total\{zone="dead"\} 1
teachfloor_spool_delivered_total\{zone="dead"\} 0
teachfloor_spool_retries_total\{zone="dead",reason="status"\} [12]
teachfloor_spool_retries_total\{zone="dead",reason="unreachable"\} 0
teachfloor_spool_dead_letters_total\{zone="dead"\} 1
(?:[^\n]+\n)*teachfloor_spool_events\{zone="dead"\} 0
teachfloor_spool_bytes\{zone="dead"\} 0
teachfloor_spool_in_flight\{zone="dead"\} 0
--- error_log eval
# 2 s at least (max_age); more when the last try waits for the next 1 s tick on a busy machine
qr/\[error\] .*teachfloor spool "dead": gave up on ${\ ::queued_name()} \(event "member\.joined", id "[^"]*"\) after [23] attempts in [2-4] s, the last: status 500; moved to dead\//



=== TEST 37: ... the app is fixed and the operator moves the dead letter to requeue/: it is delivered, once, and dead/ is empty (same nginx)
--- init
::app_set(status => 200);
my ($name) = grep { !/\.state$/ } ::spool_names('dead', 'dead');
rename "$SpoolTest::SpoolDir/dead/dead/$name",
       "$SpoolTest::SpoolDir/dead/requeue/$name" or die "rename: $!";
::wait_until(sub { (grep { /^200 / } ::app_requests()) >= 1
                   && !::spool_names('dead', 'queue') });
sleep 1.5;
::snapshot('dead');
--- request
GET /snapshot
--- response_body_like
^(?:app: 500 POST /app\?n=24 sig=ok [^\n]+\n){2,3}app: 200 POST /app\?n=24 sig=ok [^\n]+\ntmp:
queue:
dead:
requeue:
teachfloor_spool_queued_total\{zone="dead"\} 1
teachfloor_spool_delivered_total\{zone="dead"\} 1
(?:[^\n]+\n)*teachfloor_spool_dead_letters_total\{zone="dead"\} 1
(?:[^\n]+\n)*teachfloor_spool_events\{zone="dead"\} 0
--- error_log eval
[qr/\[notice\] .*teachfloor spool "dead": ${\ ::queued_name()} requeued/,
 qr/\[info\] .*teachfloor spool "dead": delivered ${\ ::queued_name()}, status 200, attempt 1/]



=== TEST 38: a file in requeue/ that is no record the module can deliver (no URI: hand-made, or another program's) goes to dead/ at its first try, saying why; nothing reaches the app, no worker crashes (same nginx)
--- init
::put_record('dead', 1, "event member.joined", "Host: localhost\n", '{}');
::wait_until(sub { ::spool_names('dead', 'dead') == 2 });
sleep 1.5;
::snapshot('dead');
--- request
GET /snapshot
--- response_body_like
^(?:app: 500 POST /app\?n=24 sig=ok [^\n]+\n){2,3}app: 200 POST /app\?n=24 sig=ok [^\n]+\ntmp:
queue:
dead: E1 E1\.state
requeue:
dead/E1\.state: attempts 1, error the record cannot be read
teachfloor_spool_queued_total\{zone="dead"\} 1
teachfloor_spool_delivered_total\{zone="dead"\} 1
(?:[^\n]+\n)*teachfloor_spool_dead_letters_total\{zone="dead"\} 2
(?:[^\n]+\n)*teachfloor_spool_events\{zone="dead"\} 0
--- error_log eval
[qr/\[error\] .*teachfloor spool "dead": ${\ ::queued_name()} is no record this module can deliver: no URI/,
 qr/\[error\] .*teachfloor spool "dead": gave up on ${\ ::queued_name()} \(event "[^"]*", id ""\) after 1 attempts in \d+ s, the last: the record cannot be read; moved to dead\//]
--- no_error_log
exited on signal




=== TEST 39: ... and so do records a delivery would make a bad request of: a header nginx takes once there twice, a URI the location (renamed by a reload, say) does not match, a body over client_max_body_size, a line break in the arguments; nothing reaches the app, no worker crashes (same nginx)
--- init
my $ev = ::ev(39);
::put_record('dead', 2, "uri /wh", "Content-Length: 2\nContent-Length: 0\n", $ev);
::put_record('dead', 3, "uri /whx", "", $ev);
::put_record('dead', 4, "uri /wh", "", '', 64 * 1024 * 1024 * 1024);
::put_record('dead', 5, "uri /wh\nargs a\\x0d\\x0aX-Injected: 1", "", $ev);
::wait_until(sub { ::spool_names('dead', 'dead') == 10 });
sleep 1.5;
::snapshot('dead');
--- request
GET /snapshot
--- response_body_like
^(?:app: 500 POST /app\?n=24 sig=ok [^\n]+\n){2,3}app: 200 POST /app\?n=24 sig=ok [^\n]+\ntmp:
queue:
dead: E1 E1\.state E2 E2\.state E3 E3\.state E4 E4\.state E5 E5\.state
requeue:
(?:dead/E\d\.state: attempts 1, error the record cannot be read\n){5}teachfloor_spool_queued_total\{zone="dead"\} 1
teachfloor_spool_delivered_total\{zone="dead"\} 1
(?:[^\n]+\n)*teachfloor_spool_dead_letters_total\{zone="dead"\} 6
(?:[^\n]+\n)*teachfloor_spool_events\{zone="dead"\} 0
--- error_log eval
[qr/\[error\] .*teachfloor spool "dead": ${\ ::queued_name()} has two "Content-Length" headers, which nginx takes once/,
 qr/\[error\] .*teachfloor spool "dead": the URI of ${\ ::queued_name()}, "\/whx", is not one of the location "\/wh"/,
 qr/\[error\] .*teachfloor spool "dead": the body of ${\ ::queued_name()}, 68719476736 bytes, is over client_max_body_size \(\d+\)/,
 qr/\[error\] .*teachfloor spool "dead": ${\ ::queued_name()} is no record this module can deliver: a bad request line/]
--- no_error_log
exited on signal



=== TEST 40: a symbolic link or a second hard link in requeue/ is left alone: it would deliver a file from outside the spool, or a queued one twice (same nginx)
--- init
my $out = "$SpoolTest::SpoolDir/outside";
mkdir $out;
my $file = ::put_record('dead', 8, "uri /wh", "", ::ev(40));
rename $file, "$out/linked" or die "rename: $!";
symlink "$out/linked", $file or die "symlink: $!";
my $file2 = ::put_record('dead', 9, "uri /wh", "", ::ev(40));
link $file2, "$out/linked2" or die "link: $!";
sleep 4;
::snapshot('dead');
--- request
GET /snapshot
--- response_body_like
^(?:app: 500 POST /app\?n=24 sig=ok [^\n]+\n){2,3}app: 200 POST /app\?n=24 sig=ok [^\n]+\ntmp:
queue:
dead: E1 E1\.state E2 E2\.state E3 E3\.state E4 E4\.state E5 E5\.state
requeue: E6 E7
(?:dead/E\d\.state: [^\n]+\n){5}teachfloor_spool_queued_total\{zone="dead"\} 1
teachfloor_spool_delivered_total\{zone="dead"\} 1



=== TEST 41: what a rewrite may record and nginx delivers as it would have sent it: a URI without a leading "/" (server-level rewrite, regex location) ...
--- http_config eval
::http('odd', 'retry=1s',
       'teachfloor_spool_path $TEST_NGINX_SPOOL_DIR/odd2 zone=odd2:1m retry=1s;')
--- config
    rewrite ^/legacy/hook$ hook2 last;

    location ~ hook2$ {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_spool   zone=odd;
        rewrite ^ /app break;
        proxy_pass         http://app;
    }

    location /teach {
        try_files $uri /hook?q=$uri&$args;
    }

    location = /hook {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_spool   zone=odd2;
        set $args "";
        proxy_pass         http://app/app;
    }

    location = /metrics {
        teachfloor_metrics;
    }
--- init
::app_start(); ::app_reset();
--- request eval
"POST /legacy/hook\n" . ::ev(41)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 42: ... and a space in the arguments the location was found with (try_files $uri into them), which its own "set $args" replaces (same nginx)
--- request eval
"POST /teachfloor%20webhook\n" . ::ev(42)
--- error_code: 202
--- response_body
{"result":"queued"}



=== TEST 43: ... both are delivered, once, and no spool has a dead letter (same nginx)
--- init
::wait_until(sub { ::app_requests() >= 2 && !::spool_names('odd', 'queue')
                   && !::spool_names('odd2', 'queue') });
sleep 1.5;
::snapshot('odd');
--- request
GET /snapshot
--- response_body_like
^app: 200 POST /app sig=ok [^\n]+"n":41[^\n]+
app: 200 POST /app sig=ok [^\n]+"n":42[^\n]+
tmp:
queue:
dead:
requeue:
teachfloor_spool_queued_total\{zone="odd"\} 1
teachfloor_spool_delivered_total\{zone="odd"\} 1
--- no_error_log
[error]
