# Self-test: HUP mode (TEST_NGINX_USE_HUP).  Between blocks the running nginx
# reloads the new configuration (SIGHUP) instead of being restarted, so
# shared memory zones keep their state from one block to the next, as with
# "nginx -s reload" in production.  Blocks depend on each other: no_shuffle.
BEGIN {
    # these self-tests need the echo module (added to TEST_NGINX_LOAD_MODULES
    # when it is installed at the Debian path)
    my $echo = '/usr/lib/nginx/modules/ngx_http_echo_module.so';
    my $mods = $ENV{TEST_NGINX_LOAD_MODULES} // '';
    $ENV{TEST_NGINX_LOAD_MODULES} = "$mods $echo" if $mods !~ /echo/ && -f $echo;

    # as test files written for the real Test::Nginx do it
    our $SkipReason;
    if ($ENV{TEST_NGINX_CHECK_LEAK}) {
        $SkipReason = 'unavailable for the hup tests';
    } else {
        $ENV{TEST_NGINX_USE_HUP} = 1;
    }
}

our $SkipReason;
use Test::Nginx::Socket $SkipReason ? (skip_all => $SkipReason) : ();

if ($INC{'Test/Nginx/Socket.pm'} !~ m{t/lib/Test/Nginx/Socket\.pm$}) {
    plan skip_all => 'self-test of the t/lib Test::Nginx::Socket only';
} elsif (($ENV{TEST_NGINX_LOAD_MODULES} // '') !~ /echo/) {
    plan skip_all => 'needs the nginx echo module (TEST_NGINX_LOAD_MODULES)';
}
plan 'no_plan';

repeat_each(1);
no_shuffle();
master_off();    # HUP mode turns it on anyway (a reload needs a master)
workers(2);

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# --- init code: it runs once nginx is up (or has reloaded) for the block

our $MasterPid;

sub master_pid {
    open my $in, '<', server_root() . '/logs/nginx.pid' or return '';
    my $pid = <$in> // '';
    $pid =~ s/\s+//g;
    return $pid;
}

# $expect: 'same' (reloaded), or 'new' (started from scratch)
sub check_master {
    my ($label, $expect) = @_;
    my $pid = master_pid();
    Test::More::like($pid, qr/^\d+$/, "$label - pid file has the master pid");
    Test::More::ok(kill(0, $pid), "$label - master $pid is running");
    if ($expect eq 'same') {
        Test::More::is($pid, $MasterPid, "$label - same nginx master as in the previous block");
    } elsif (defined $MasterPid) {
        Test::More::isnt($pid, $MasterPid, "$label - a new nginx master");
    }
    $MasterPid = $pid;
    Test::More::is(master_process_enabled(), 'on', "$label - master process on");
}

run_tests();

# A configuration nginx rejects on reload: one failed test (found without
# waiting long), and the block runs against the previous configuration, as in
# the real one.  This runs a small test file in a child process.
{
    require File::Temp;
    require File::Basename;
    require Time::HiRes;
    my $lib = File::Basename::dirname(File::Basename::dirname(
        File::Basename::dirname(File::Spec->rel2abs($INC{'Test/Nginx/Socket.pm'}))));
    my $root = server_root() . '-reload-fails';
    my ($fh, $script) = File::Temp::tempfile('hup-reload-XXXXXX', SUFFIX => '.t',
                                             TMPDIR => 1, UNLINK => 1);
    print $fh <<'_EOT_';
use Test::Nginx::Socket 'no_plan';
no_shuffle();
run_tests();
__DATA__

=== TEST 1: good configuration
--- config
    location = /v { echo "v1"; }
--- request
GET /v
--- response_body
v1



=== TEST 2: rejected configuration
--- config
    location = /v { echo "v2"; hup_no_such_directive on; }
--- request
GET /v
--- response_body
v1
_EOT_
    close $fh;
    my $start = Time::HiRes::time();
    my $out = do {
        local $ENV{TEST_NGINX_USE_HUP} = 1;
        local $ENV{TEST_NGINX_SERVROOT} = $root;
        local $ENV{TEST_NGINX_NO_CLEAN};
        local $ENV{HARNESS_ACTIVE};
        local $ENV{HARNESS_VERSION};
        `"$^X" -I "$lib" "$script" 2>&1`;
    };
    my $took = Time::HiRes::time() - $start;
    my $tap = join '', grep { /^(?:not )?ok / } split /^/m, $out;
    Test::More::like($tap, qr/^ok \d+ - .*TEST 1: good configuration - response_body/m,
                     'reload fails: TEST 1 passes') or Test::More::diag($out);
    Test::More::like($tap, qr/^not ok \d+ - .*TEST 2: rejected configuration - failed to reload the nginx configuration: .*unknown directive "hup_no_such_directive"/m,
                     'reload fails: reported as a failed test, with the reason');
    Test::More::like($tap, qr/^ok \d+ - .*TEST 2: rejected configuration - response_body/m,
                     'reload fails: the old configuration serves the block');
    Test::More::is(scalar(() = $tap =~ /^not ok/mg), 1, 'reload fails: exactly one failure');
    Test::More::cmp_ok($took, '<', 8, 'reload fails: found without waiting for a timeout');
    File::Path::remove_tree($root);
}

__DATA__

=== TEST 1: the first request passes the rate limit (1 per minute)
--- http_config
    limit_req_zone $uri zone=hup_zone:1m rate=1r/m;
--- config
    location = /limited {
        limit_req zone=hup_zone;
        echo "passed";
    }
--- init: main::check_master('TEST 1', 'new')
--- request
GET /limited
--- response_body
passed
--- no_error_log
[error]



=== TEST 2: reloaded, not restarted: the zone still counts TEST 1's request
--- http_config
    limit_req_zone $uri zone=hup_zone:1m rate=1r/m;
--- config
    location = /limited {
        limit_req zone=hup_zone;
        echo "passed (block 2)";
    }
--- init: main::check_master('TEST 2', 'same')
--- request
GET /limited
--- error_code: 503
--- error_log
signal 1 (SIGHUP) received
reconfiguring
limiting requests, excess:
by zone "hup_zone"



=== TEST 3: error.log starts afresh at each reload; user_files
--- http_config
    limit_req_zone $uri zone=hup_zone:1m rate=1r/m;
--- config
    location = /limited {
        limit_req zone=hup_zone;
        echo "passed";
    }
    location = /file {
        alias $TEST_NGINX_HTML_DIR/hup-a.txt;
    }
--- user_files
>>> hup-a.txt
block 3
>>> hup-old.txt
only in block 3
--- init: main::check_master('TEST 3', 'same')
--- request
GET /file
--- response_body
block 3
--- error_log
reconfiguring
--- no_error_log
limiting requests
[error]



=== TEST 4: user files of the previous block are gone
--- config
    location = /old {
        alias $TEST_NGINX_HTML_DIR/hup-old.txt;
    }
    location = /file {
        alias $TEST_NGINX_HTML_DIR/hup-a.txt;
    }
--- user_files
>>> hup-a.txt
block 4
--- init: main::check_master('TEST 4', 'same')
--- request
GET /old
--- error_code: 404
--- error_log eval
[qr/open\(\) ".*hup-old\.txt" failed/, 'reconfiguring']



=== TEST 5: no --- config: no reload, the running configuration serves
(error.log is not emptied either: it still has TEST 4's reload, and only it)
--- init: main::check_master('TEST 5', 'same')
--- request
GET /file
--- response_body
block 4
--- grep_error_log eval: qr/\] \d+#\d+: reconfiguring$/
--- grep_error_log_out eval: qr/\A[^\n]+\n\z/



=== TEST 6: must_die: no HUP for this block (nginx is stopped, must fail to start)
--- config
    location = /bad {
        hup_no_such_directive on;
    }
--- must_die
--- error_log
[emerg]
unknown directive "hup_no_such_directive"



=== TEST 7: after must_die, nginx starts from scratch: a new, empty zone
--- http_config
    limit_req_zone $uri zone=hup_zone:1m rate=1r/m;
--- config
    location = /limited {
        limit_req zone=hup_zone;
        echo "passed";
    }
--- init: main::check_master('TEST 7', 'new')
--- request
GET /limited
--- response_body
passed
--- no_error_log
reconfiguring
[error]



=== TEST 8: and the next block reloads that nginx again
--- http_config
    limit_req_zone $uri zone=hup_zone:1m rate=1r/m;
--- config
    location = /limited {
        limit_req zone=hup_zone;
        echo "passed";
    }
--- init: main::check_master('TEST 8', 'same')
--- request
GET /limited
--- error_code: 503
--- error_log
reconfiguring
