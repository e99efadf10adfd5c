package Test::Nginx::Socket;

# A small implementation of the Test::Nginx::Socket test-file interface
# (openresty/test-nginx), built on Test::Base.  The project uses it only when
# the real module cannot be loaded.  For the subset it supports it follows the
# real semantics (request bytes, test names and counts, error.log slicing), so
# a test file passes or fails the same way under both.  Supported sections,
# functions, environment variables and the known differences are listed in
# the POD at the end of this file.

use Test::Base -base;    # @ISA, Test::More functions, plan, blocks, no_diff
use strict;
use warnings;

use Time::HiRes qw(sleep time);
use File::Spec ();
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempfile);
use File::Find ();
use IO::Socket::INET ();
use IO::Select ();
use POSIX qw(:sys_wait_h EAGAIN EWOULDBLOCK EINTR SIGINT SIGHUP SIGPIPE
             SIGQUIT SIGTERM SIGKILL);
use List::Util qw(shuffle min max);
use Scalar::Util qw(looks_like_number);
use HTTP::Response ();
use Test::LongString ();

our $VERSION = '0.01';

our @EXPORT = qw(
    plan run_tests run_test repeat_each no_shuffle master_on master_off
    master_process_enabled workers worker_connections log_level no_long_string
    no_root_location env_to_nginx add_block_preprocessor server_name
    server_addr server_port server_port_for_client server_root html_dir timeout
    is_str bail_out add_cleanup_handler check_accum_error_log use_hup
    $ServerPort $ServerPortForClient $ServRoot $ServerAddr $ServerName
    $NoLongString $RepeatEach
);

# ==== settings (names and defaults as in the real Test::Nginx::Util) ====

our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $ServerAddr = '127.0.0.1';
our $ServerName = 'localhost';
our $NginxBinary = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $LoadModules = $ENV{TEST_NGINX_LOAD_MODULES};
our $UseValgrind = $ENV{TEST_NGINX_USE_VALGRIND};
our $UseHup = $ENV{TEST_NGINX_USE_HUP};
our $UseHttp2 = $ENV{TEST_NGINX_USE_HTTP2};
our $Verbose = $ENV{TEST_NGINX_VERBOSE};
our $Timeout = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $NoShuffle = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $LogLevel = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $CheckAccumErrLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $Sleep = $ENV{TEST_NGINX_SLEEP} || 0.015;
our ($RepeatEach, $Workers, $WorkerConnections, $NoRootLocation) = (1, 1, 64, 0);
our $NoLongString;
our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers);

# As in the real one: the check-leak and benchmark modes (not implemented
# here) win over HUP mode, which is then off for the whole file.
for my $mode (qw(TEST_NGINX_BENCHMARK TEST_NGINX_CHECK_LEAK)) {
    next unless $ENV{$mode} && $UseHup;
    warn "WARNING: $mode and TEST_NGINX_USE_HUP are both set and the former wins.\n";
    undef $UseHup;
}

our $ServRoot = $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
our $LogDir      = "$ServRoot/logs";
our $ErrLogFile  = "$LogDir/error.log";
our $QuietEmerg;
our $AccLogFile  = "$LogDir/access.log";
our $HtmlDir     = "$ServRoot/html";
our $ConfDir     = "$ServRoot/conf";
our $ConfFile    = "$ConfDir/nginx.conf";
our $PidFile     = "$LogDir/nginx.pid";
our $ValgrindLog = "$LogDir/valgrind.log";
# valgrind suppressions for nginx-core allocations, shipped next to this file
(our $CoreSupp = File::Spec->rel2abs(__FILE__)) =~ s{Socket\.pm$}{nginx-core.supp};

my $ErrLogPos = 0;      # error.log offset consumed by the checks so far
my $ValgrindPos = 0;    # valgrind.log offset already checked
my $PrevBlockName;      # the block that ran before the current one
my $ChildPid;           # nginx running in the foreground (valgrind mode)
my $NginxStarted;       # an nginx we started may be running
my $ConnectFailures = 0;
my $WarnedHtmlDir;
my $MainPid = $$;
my $NginxVersion;       # of $NginxBinary, as a number: 1.022001 for 1.22.1

# Sections of the real module that are not implemented here: a block using
# one fails instead of silently checking less.
my @Unsupported = qw(
    access_log no_access_log shutdown_error_log no_shutdown_error_log
    raw_response_headers_like raw_response_headers_unlike tcp_listen tcp_reply
    tcp_query tcp_query_len udp_listen udp_reply udp_query stap stap_out
    stap_out_like stap_out_unlike curl curl_error curl_options
    response_body_eval request_eval skip_openssl skip_slave todo todo_nginx
    http09 http3
    charset server_addr_for_client error_log_file reload_fails
);

sub run_test ($);

# ==== exported setters/getters ====

sub repeat_each (@)        { $RepeatEach = shift if @_; $RepeatEach }
sub workers (@)            { $Workers = shift if @_; $Workers }
sub worker_connections (@) { $WorkerConnections = shift if @_; $WorkerConnections }
sub log_level (@)          { $LogLevel = shift if @_; $LogLevel }
sub server_name (@)        { $ServerName = shift if @_; $ServerName }
sub server_addr (@)        { $ServerAddr = shift if @_; $ServerAddr }
sub server_port (@)        { $ServerPort = shift if @_; $ServerPort }
sub server_port_for_client (@) { $ServerPortForClient = shift if @_; $ServerPortForClient }
sub timeout (@)            { $Timeout = shift if @_; $Timeout }
sub no_shuffle ()          { $NoShuffle = 1 }
sub master_on ()           { $MasterProcessEnabled = 'on' }
sub master_off ()          { $MasterProcessEnabled = 'off' }
sub no_long_string ()      { $NoLongString = 1 }
sub no_root_location ()    { $NoRootLocation = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub html_dir ()            { $HtmlDir }
sub server_root ()         { $ServRoot }
sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift }
sub use_hup ()             { $UseHup = 1 }

sub master_process_enabled (@) {
    return $MasterProcessEnabled unless @_;
    $MasterProcessEnabled = shift() ? 'on' : 'off';
}

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" unless @_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v\n" if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

# As in the real one, the preprocessor added last runs first.
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }

# String comparison as the real one does it: Test::LongString by default,
# Test::Base::is (a Text::Diff diff for multi-line strings) after
# no_long_string().
sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::like($got, $expected, $desc) if ref $expected eq 'Regexp';
    return Test::Base::is($got, $expected, $desc) if $NoLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ==== small helpers ====

sub parse_time {
    my $t = shift;
    return $t unless defined $t;
    return $1 / 1000 if $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    return $t =~ /^\s*([\d.]+)\s*s?\s*$/ ? $1 : $t;
}

sub slurp {
    open my $in, '<:raw', shift or return undef;
    local $/;
    return scalar(<$in>) // '';
}

sub spew {
    my ($file, $data, $append) = @_;
    open my $out, $append ? '>>:raw' : '>:raw', $file
        or bail_out("Cannot open $file for writing: $!");
    print $out $data;
    close $out;
}

sub fmt_str {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g; $s =~ s/\r/\\r/g; $s =~ s/\n/\\n/g;
    return $s;
}

sub find_binary {
    my $cmd = shift;
    return (-f $cmd && -x $cmd ? $cmd : undef) if $cmd =~ m{/};
    for my $dir (grep { length } split(/:/, $ENV{PATH} || ''), '/usr/sbin', '/usr/local/sbin') {
        return "$dir/$cmd" if -f "$dir/$cmd" && -x _;
    }
    return undef;
}

# Replace $TEST_NGINX_XXX by the environment value, like the real one does
# in main_config, http_config, post_main_config, config and user_files.
sub expand_env {
    my ($text, $name) = @_;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{env_value($1, $name)}ge if defined $text;
    return $text;
}

sub env_value {
    my ($var, $name) = @_;
    return $ENV{$var} if defined $ENV{$var};
    if ($var eq 'TEST_NGINX_HTML_DIR') {    # the real one would bail out here
        warn "WARNING: $name - \$TEST_NGINX_HTML_DIR is not set; using html_dir(). "
            . "The real Test::Nginx bails out: add \$ENV{TEST_NGINX_HTML_DIR} ||= "
            . "html_dir(); to the test file.\n" unless $WarnedHtmlDir++;
        return $HtmlDir;
    }
    bail_out("$name - No environment $var defined.\n");
}

# --- http2 in the block, or TEST_NGINX_USE_HTTP2 for blocks that can use it.
sub use_http2 {
    my $block = shift;
    my $on = $block->test_nginx_enabled_http2;
    return $on if defined $on;
    my ($name, $req) = ($block->name, scalar $block->request);
    if (defined $block->http2) {
        bail_out("cannot use --- http2 with --- raw_request") if defined $block->raw_request;
        bail_out("cannot use --- http2 with --- pipelined_requests")
            if $block->pipelined_requests;
        $on = 1;
    } elsif (!$UseHttp2) {
        $on = 0;
    } elsif (defined $block->raw_request || $block->pipelined_requests) {
        warn "WARNING: $name - using raw_request or pipelined_requests, will not use HTTP/2\n";
        $on = 0;
    } elsif (!defined $req) {
        $on = 0;
    } elsif (!ref $req && $req =~ m{HTTP/1\.0}) {
        warn "WARNING: $name - explicitly requires HTTP 1.0, so will not use HTTP/2\n";
        $on = 0;
    } else {
        $on = 1;
    }
    $block->set_value('test_nginx_enabled_http2', $on);
    return $on;
}

# ==== nginx processes ====

sub read_pid {
    my $pid = slurp($PidFile) // return undef;
    $pid =~ s/\s+//g;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

sub alive {
    my $pid = shift or return 0;
    waitpid($pid, WNOHANG) if $ChildPid && $pid == $ChildPid;
    return 0 unless kill 0, $pid;
    # a zombie (an exited daemon not yet reaped by init) counts as dead
    my $stat = slurp("/proc/$pid/stat") // '';
    return $stat !~ /^\d+ \(.*\) [ZX]/s;
}

# A pid from the pid file is only signalled if it still is an nginx: the file
# may be stale and the pid reused.
sub is_nginx {
    my $cmdline = slurp("/proc/" . shift() . "/cmdline");
    return !defined $cmdline || $cmdline =~ /nginx/;
}

# Graceful stop (QUIT), escalating to TERM, then KILL.  $fast (when we are
# interrupted) starts with TERM: a graceful stop may wait for a connection we
# still hold open.
sub stop_nginx {
    my ($fast) = @_;
    my %pids = map { $_ => 1 } grep { $_ } $ChildPid, grep { $_ && is_nginx($_) } read_pid();
    my @pids = grep { alive($_) } keys %pids;
    if (@pids) {
        kill $fast ? SIGTERM : SIGQUIT, @pids;
        my $deadline = time + ($ChildPid ? ($fast ? 10 : 30) : $Timeout);
        sleep 0.02 while time < $deadline && grep { alive($_) } @pids;
        for my $sig (($fast ? () : SIGTERM), SIGKILL) {
            my @left = grep { alive($_) } @pids or last;
            warn "WARNING: nginx (pid @left) did not exit; sending signal $sig\n";
            kill $sig, @left;
            my $end = time + 2;
            sleep 0.05 while time < $end && grep { alive($_) } @left;
        }
    }
    waitpid($ChildPid, 0) if $ChildPid && !alive($ChildPid);
    undef $ChildPid;
    undef $NginxStarted;
    unlink $PidFile;
}

sub cleanup {
    my ($fast) = @_;
    return if $$ != $MainPid;
    $_->() for @CleanupHandlers;
    stop_nginx($fast) unless $ENV{TEST_NGINX_NO_CLEAN} && !$UseValgrind;
}

END {
    local $?;
    cleanup() if $$ == $MainPid;
}

my %SigNum = (INT => SIGINT, TERM => SIGTERM, HUP => SIGHUP, PIPE => SIGPIPE);

sub on_signal {
    my $sig = shift;
    $SIG{PIPE} = 'IGNORE';
    cleanup(1);
    POSIX::_exit(128 + ($SigNum{$sig} || 0));
}

# Debian's nginx (--error-log-path=stderr) prints what it logs before the
# configured error_log is open (config errors, startup warnings) only on
# stderr.  An nginx built with the default logs/error.log writes these lines
# to <prefix>/logs/error.log, which is where the real Test::Nginx looks for
# them.  So we append nginx's stderr to logs/error.log, minus lines already
# there.
sub append_startup_stderr {
    my $stderr = shift;
    return unless length $stderr;
    my $log = slurp($ErrLogFile) // '';
    my $add = '';
    for my $line (split /^/m, $stderr) {
        (my $key = $line) =~ s/^.*?\[\w+\] (?:\d+#\d+: )?//;
        $key =~ s/\s+$//;
        next if $key ne '' && index($log, $key) >= 0;
        $add .= $line =~ /\n\z/ ? $line : "$line\n";
    }
    make_path($LogDir);
    spew($ErrLogFile, $add, 1) if length $add;
}

sub nginx_cmd {
    my $valgrind = shift;
    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);
    return @cmd unless $valgrind;
    my @opts = split ' ', $UseValgrind;
    if ($UseValgrind =~ /^\d+$/) {
        @opts = qw(--tool=memcheck --leak-check=full --keep-debuginfo=yes
                   --show-possibly-lost=no --num-callers=100 --gen-suppressions=all);
        push @opts, "--suppressions=$CoreSupp" if -f $CoreSupp;
        my ($supp) = grep { -f } 't/valgrind.suppress', 'valgrind.suppress';
        push @opts, "--suppressions=$supp" if $supp;
    }
    return ('valgrind', '-q', "--log-file=$ValgrindLog", @opts, @cmd);
}

# Runs @cmd with stdout/stderr going to the given files; returns the pid.
sub spawn {
    my ($out, $err, $new_pgrp, @cmd) = @_;
    my $pid = fork;
    bail_out("fork() failed: $!") unless defined $pid;
    return $pid if $pid;
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', $out;
    open STDERR, '>', $err;
    setpgrp(0, 0) if $new_pgrp;
    { no warnings 'exec'; exec { $cmd[0] } @cmd; }
    POSIX::_exit(127);
}

# Starts nginx once; returns ($status, $stderr), $status like $? (-1: could not
# run it).  In valgrind mode nginx stays in the foreground as our child and we
# return once its pid file exists (it listens by then).
sub run_nginx {
    my ($valgrind) = @_;
    my @cmd = nginx_cmd($valgrind);
    warn "command: @cmd\n" if $Verbose;
    my (undef, $errfile) = tempfile('ngx-stderr-XXXXXX', TMPDIR => 1, UNLINK => 1);
    my $pid = spawn('/dev/null', $errfile, $valgrind, @cmd);
    my $status;
    if ($valgrind) {
        $ChildPid = $pid;
        my $deadline = time + 60;
        until (defined $status) {
            if (waitpid($pid, WNOHANG) == $pid) { $status = $?; undef $ChildPid }
            elsif (read_pid()) { $status = 0 }
            elsif (time > $deadline) {
                kill SIGKILL, $pid;
                waitpid($pid, 0);
                undef $ChildPid;
                $status = 1 << 8;
            } else { sleep 0.05 }
        }
    } else {
        waitpid($pid, 0);
        $status = $?;
        my $deadline = time + 5;    # daemonized: wait for the pid file
        sleep 0.01 while $status == 0 && !read_pid() && time < $deadline;
    }
    $status = -1 if $status >> 8 == 127 && !find_binary($cmd[0]);
    my $stderr = slurp($errfile) // '';
    unlink $errfile;
    append_startup_stderr($stderr);
    $NginxStarted = 1 if $status == 0;
    return ($status, $stderr);
}

# ==== server root, user files, nginx.conf ====

sub setup_server_root {
    remove_tree($ConfDir, $HtmlDir, $LogDir, glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"));
    for my $d ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        -d $d or make_path($d) or bail_out("Failed to do mkdir $d: $!");
    }
    spew("$HtmlDir/index.html",
         '<html><head><title>It works!</title></head><body>It works!</body></html>');
}

# ">>> name" lines, each followed by the file's content; or an array ref of
# [name, content] pairs.  Relative names are under the html dir.
sub write_user_files {
    my $block = shift;
    my ($name, $files) = ($block->name, scalar $block->user_files);
    return unless $files;
    if (!ref $files) {
        my @list;
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)/) { push @list, [$1, ''] }
            elsif (@list)              { $list[-1][1] .= $line }
        }
        $files = \@list;
    }
    bail_out("$name - wrong value type: ", ref $files, ", only scalar or ARRAY are accepted")
        unless ref $files eq 'ARRAY';
    for my $f (@$files) {
        my $path = $f->[0] =~ m{^/} ? $f->[0] : "$HtmlDir/$f->[0]";
        make_path($1) if $path =~ m{(.*)/} && !-d $1;
        spew($path, expand_env($f->[1] // '', $name));
    }
}

sub write_config {
    my ($block, $config, $valgrind) = @_;
    my $name = $block->name;
    my ($main, $http, $post) = map { expand_env(scalar($block->$_) // '', $name) }
        qw(main_config http_config post_main_config);
    (my $server_name = $block->server_name // $ServerName) =~ s/([\\'])/\\$1/g;
    # as in the real one, HUP mode turns the master process on for good
    # (nginx cannot reload its configuration without one), even under valgrind
    master_on() if $UseHup;
    my $master = $valgrind && !$UseHup ? 'off' : $MasterProcessEnabled;
    my $daemon = $valgrind ? 'off' : 'on';
    my $listen = $ServerPort . (use_http2($block) ? ' http2' : '');

    my $conf = join '', map { "load_module $_;\n" } grep { length } split /\s+/, $LoadModules // '';
    $conf .= "env $_;\n" for qw(LD_PRELOAD LD_LIBRARY_PATH ASAN_OPTIONS),
                             map { /\s/ ? "'$_'" : $_ } @EnvToNginx;
    # distribution builds may use absolute temp paths (Debian: /var/lib/nginx)
    my $temp_paths = join '', map { "    ${_}_temp_path $ServRoot/${_}_temp;\n" }
        grep { $http !~ /\b${_}_temp_path\b/ } qw(client_body proxy fastcgi uwsgi scgi);
    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    $conf .= <<"_EOC_";
worker_processes  $Workers;
daemon $daemon;
master_process $master;
error_log $ErrLogFile $LogLevel;
pid       $PidFile;

$main

http {
    access_log $AccLogFile;
    default_type text/plain;
    keepalive_timeout  68;
$temp_paths
$http

    server {
        listen          $listen;
        server_name     '$server_name';

        client_max_body_size 30M;

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
_EOC_
    $conf .= "user root;\n" if $> == 0;
    spew($ConfFile, $conf);
}

# ==== running the blocks ====

sub run_tests () {
    $NginxBinary = find_binary($NginxBinary)
        or bail_out("Cannot find the nginx executable \"$NginxBinary\" in PATH "
                    . "(set TEST_NGINX_BINARY or add /usr/sbin to PATH)");
    my $ver = `$NginxBinary -V 2>&1`;
    bail_out("Failed to get the version of nginx ($NginxBinary): $ver") if $? != 0;
    $NginxVersion = canon_version($1, $2, $3) if $ver =~ m{\w+/(\d+)\.(\d+)\.(\d+)};
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;
    # an interrupted run (^C, prove killed) must not leave nginx behind
    for my $sig (keys %SigNum) {
        $SIG{$sig} = \&on_signal if !$SIG{$sig} || $SIG{$sig} eq 'DEFAULT';
    }
    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;
    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value('name', "$0 " . $block->name);
        run_test($block);
        $PrevBlockName = $block->name;
    }
    if ($UseHup && $UseValgrind && $ChildPid) {
        # valgrind reports leaks when nginx exits, i.e. only now in HUP mode
        stop_nginx();
        check_valgrind_log($PrevBlockName);
    }
    cleanup();
}

sub run_test ($) {
    my $block = shift;
    my $name = $block->name;
    my @bad = grep { defined $block->$_ } @Unsupported;
    my $req = $block->request;
    push @bad, 'request (arrays of packets)' if ref $req eq 'ARRAY' && grep { ref } @$req;
    if (@bad) {
        Test::More::fail("$name - section(s) not supported by t/lib/Test/Nginx/Socket.pm: @bad");
        return;
    }

    if (my ($count, $reason) = skip_block($block)) {
        # as in the real one: nginx is left as it is, and each repetition
        # counts the block's tests as skipped
        for (1 .. $RepeatEach) {
            SKIP: { Test::More::skip("$name - $reason", $count) }
        }
        return;
    }

    my $config = expand_env(scalar $block->config, $name);
    my $must_die = $block->must_die;
    my $valgrind = $UseValgrind && !defined $must_die;
    local $LogLevel = $block->log_level || $LogLevel;
    local $UseHup = defined $must_die ? undef : $UseHup;    # as in the real one

    if (!defined $config && !defined $must_die) {
        # as in the real one: without --- config the running nginx is reused
        # (under valgrind it was stopped after the previous block: restart it)
        bail_out("$name - No '--- config' section specified and could not get previous one.")
            unless $NginxStarted || ($valgrind && -f $ConfFile);
        if (!$NginxStarted) {
            unlink $ValgrindLog;
            start_nginx($name, $valgrind);
        }
    } else {
        # HUP mode: an nginx already running (started by us for an earlier
        # block) reloads the new configuration instead of being restarted
        my $pid = $UseHup ? running_nginx() : undef;
        if ($pid) {
            clean_server_root_for_hup();
            write_user_files($block);
            write_config($block, $config // '', $valgrind);
            $pid = reload_nginx($name, $pid, $valgrind);
        }
        if (!$pid) {
            stop_nginx();
            setup_server_root();
            write_user_files($block);
            write_config($block, $config // '', $valgrind);
            return run_must_die($block, $must_die) if defined $must_die;
            start_nginx($name, $valgrind);
        }
    }

    if ($block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }
    $ErrLogPos = 0;
    for my $i (1 .. $RepeatEach) {
        write_user_files($block) if $i > 1;
        run_requests($block, $i - 1);
    }
    if ($valgrind) {
        # stop nginx so that valgrind reports leaks, then look; in HUP mode
        # nginx keeps running: what valgrind reported so far (old workers'
        # leaks come when they exit after the next reload, see reload_nginx)
        stop_nginx() unless $UseHup;
        check_valgrind_log($name);
    }
}

# ==== skipping blocks (skip_eval, skip_nginx, skip_nginx2) ====

sub canon_version { sprintf '%d.%03d%03d', @_ }

# nginx's version compared to "x.y.z" with <, <=, > or >=; true for an
# unknown version only with < or <=, as in the real one
sub nginx_version_is {
    my ($op, $ver) = @_;
    return $op =~ /^</ unless defined $NginxVersion;
    my $v = canon_version(split /\./, $ver);
    return $op eq '<'  ? $NginxVersion <  $v : $op eq '<=' ? $NginxVersion <= $v
         : $op eq '>'  ? $NginxVersion >  $v : $NginxVersion >= $v;
}

# The sections and their meaning as in the real one: "N: <perl code>"
# (skip_eval: skip when the code is true), "N: <op> x.y.z[: reason]"
# (skip_nginx), "N: <op> x.y.z and|or <op> x.y.z[: reason]" (skip_nginx2).
# N tests are counted as skipped.  A skip_eval that is not "N: code" is
# ignored, a skip_nginx or skip_nginx2 that is not as above bails out.
# Returns (N, reason) when the block is to be skipped, else nothing.
sub skip_block {
    my $block = shift;
    my $name = $block->name;
    my ($count, $skip, $reason);
    my $op = qr/([<>]=?)\s*(\d+\.\d+\.\d+)/;
    if (defined $block->skip_eval && $block->skip_eval =~ /^\s*(\d+)\s*:\s*(.*)/s) {
        my $code;
        ($count, $code, $reason) = ($1, $2, 'skip_eval');
        $skip = eval $code;
        bail_out("$name - skip_eval - failed to eval the Perl code \"$code\": $@") if $@;
    }
    if (defined(my $spec = $block->skip_nginx)) {
        my ($n, $op1, $v1, $why) = $spec =~ /^\s*(\d+)\s*:\s*$op(?:\s*:\s*(.*))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        ($count, $reason) = ($n, $why || "nginx version $op1 $v1");
        $skip = 1 if nginx_version_is($op1, $v1);
    } elsif (defined(my $spec2 = $block->skip_nginx2)) {
        my ($n, $op1, $v1, $join, $op2, $v2, $why) =
            $spec2 =~ /^\s*(\d+)\s*:\s*$op\s*(or|and)\s*$op(?:\s*:\s*(.*))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx2 spec: $spec2");
        my ($x, $y) = (nginx_version_is($op1, $v1), nginx_version_is($op2, $v2));
        ($count, $reason) = ($n, $why);
        $skip = 1 if !defined $NginxVersion || ($join eq 'or' ? $x || $y : $x && $y);
    }
    return () unless $skip && defined $count;
    return ($count, $reason // 'various reasons');
}

# Fails the block if valgrind.log got errors since the previous check.
sub check_valgrind_log {
    my $name = shift;
    my $out = slurp($ValgrindLog) // return;
    $ValgrindPos = 0 if $ValgrindPos > length $out;
    my $new = substr $out, $ValgrindPos;
    $ValgrindPos = length $out;
    if ($new =~ /^==\d+== (?!Warning:)\S/m) {
        Test::More::fail("$name - valgrind reported errors (see $ValgrindLog)");
        Test::More::diag($new);
    }
}

# ==== HUP mode (TEST_NGINX_USE_HUP) ====

# The master pid of the nginx we started, if it is still running.
sub running_nginx {
    return undef unless $NginxStarted;
    my $pid = $ChildPid || read_pid();
    return $pid && alive($pid) && is_nginx($pid) ? $pid : undef;
}

# Live (non-zombie) child processes of $ppid: nginx's workers, cache manager
# and cache loader.
sub child_pids {
    my $ppid = shift;
    opendir my $dh, '/proc' or return ();
    my @pids;
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        my $stat = slurp("/proc/$pid/stat") // next;
        push @pids, $pid if $stat =~ /^\d+ \(.*\) (\S) (\d+) /s && $2 == $ppid && $1 !~ /[ZX]/;
    }
    return @pids;
}

# A worker told to quit by a reload closes its listening sockets and sets
# this title (not visible under valgrind: there we wait for the exit).
sub shutting_down {
    my $cmdline = slurp("/proc/" . shift() . "/cmdline") // return 1;
    return $cmdline =~ /shutting down/;
}

# Between blocks in HUP mode: as setup_server_root, but nginx keeps running,
# so what it still uses stays: the directories, the pid file, unix sockets,
# TLS certificates and keys (as in the real one) and valgrind.log.  error.log
# and access.log are emptied, not removed: nginx appends to them (O_APPEND),
# so each block's checks see what is logged from the reload on (the real one
# removes them and sends USR1 to have them reopened, to the same effect).
# conf/, *_temp and *_cache are removed (nginx recreates the temp and cache
# directories on reload).
sub clean_server_root_for_hup {
    remove_tree($ConfDir, glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"));
    my $id = sub { my @st = stat shift or return ''; "$st[0]:$st[1]" };
    my %truncate = map { $id->($_) => 1 } grep { -f } $ErrLogFile, $AccLogFile;
    my $valgrind_log = -f $ValgrindLog ? $id->($ValgrindLog) : '';
    my @files;
    File::Find::find({ no_chdir => 1, wanted => sub { push @files, $_ unless -d } },
                     grep { -d } $HtmlDir, $LogDir);
    for my $f (@files) {
        next if $f =~ /(?:\bnginx\.pid|\.sock|\.crt|\.key)$/;
        my $file_id = $id->($f);
        next if $file_id ne '' && $file_id eq $valgrind_log;
        if ($truncate{$file_id}) {
            truncate $f, 0 or warn "WARNING: failed to truncate $f: $!\n";
        } else {
            unlink $f or warn "WARNING: failed to remove $f: $!\n";
        }
    }
    for my $d ($LogDir, $HtmlDir, $ConfDir) {
        -d $d or make_path($d) or bail_out("Failed to do mkdir $d: $!");
    }
    spew("$HtmlDir/index.html",
         '<html><head><title>It works!</title></head><body>It works!</body></html>');
}

# The first [emerg] line in error.log (emptied before the HUP): the master
# logs why it could not reload and keeps the old configuration.
sub reload_error {
    open my $in, '<', $ErrLogFile or return undef;
    while (my $line = <$in>) {
        if ($line =~ /\[emerg\]/) { chomp $line; return $line }
    }
    return undef;
}

# Sends SIGHUP to the master and waits until the reload has taken effect: new
# worker processes are up and the old ones have stopped accepting connections
# (exited, or "worker process is shutting down"); then, for up to a second,
# for the old ones to be gone, so that what they log when exiting goes to
# this block.  The real one sleeps a little and polls a /ver location of an
# extra server until it answers with the new configuration's random version.
# A reload that fails (an [emerg] line, or no new workers in time) fails a
# test and the block runs against the old configuration, as in the real one.
# Returns the master pid, or undef when nginx must be started from scratch.
sub reload_nginx {
    my ($name, $pid, $valgrind) = @_;
    my %old = map { $_ => 1 } child_pids($pid);
    warn "$name - sending HUP signal to $pid\n" if $Verbose;
    if (!kill SIGHUP, $pid) {
        warn "WARNING: $name - failed to send HUP signal to nginx (pid $pid): $!\n";
        return undef;
    }
    warn "$name\n" if $valgrind;
    my ($deadline, $wait, $err) = (time + ($valgrind ? 60 : max(10, $Timeout)), $Sleep);
    while (1) {
        if (!alive($pid)) {
            Test::More->builder->no_ending(1);
            Test::More::fail("$name - nginx (pid $pid) exited while reloading its configuration");
            warn `tail -n20 $ErrLogFile`;
            return undef;
        }
        my @kids = child_pids($pid);
        my @new = grep { !$old{$_} } @kids;
        last if @new && !grep { $old{$_} && !shutting_down($_) } @kids;
        $err = reload_error() unless @new;
        $err = "no new worker processes after " . ($valgrind ? 60 : max(10, $Timeout)) . "s"
            if !$err && time > $deadline;
        last if $err;
        sleep $wait;
        $wait = min($wait * 1.5, 0.1);
    }
    if ($err) {
        Test::More->builder->no_ending(1);
        Test::More::fail("$name - failed to reload the nginx configuration: $err");
        return $pid;
    }
    my $end = time + ($valgrind ? 30 : 1);
    sleep 0.01 while time < $end && grep { $old{$_} } child_pids($pid);
    check_valgrind_log($PrevBlockName // $name) if $valgrind;
    return $pid;
}

sub start_nginx {
    my ($name, $valgrind) = @_;
    my ($status, $stderr);
    $ValgrindPos = 0;    # valgrind truncates its log when it starts
    for my $try (1 .. 10) {
        ($status, $stderr) = run_nginx($valgrind);
        last if $status == 0 || $status == -1;
        # only a port the old nginx still holds is worth waiting for
        last if $stderr !~ /Address already in use/;
        sleep 0.1 * $try;
    }
    if ($status == 0) {
        warn "$name\n" if $valgrind;
        return;
    }

    # a bail-out reason is one line: the whole story goes before it
    my @emerg = grep { /\[emerg\]/ } split /^/m, $stderr;
    Test::More::diag("$name - nginx did not start (status code $status): "
                     . join(' ', nginx_cmd($valgrind)) . "\n$stderr" . startup_reasons());
    chomp(my $reason = $emerg[-1] // (split /^/m, $stderr)[-1] // 'no output');
    bail_out("$name - Cannot start nginx: $reason");
}

# What nginx said about its start in error.log, beyond the [emerg] line on
# stderr: the warnings and errors before it, without debug lines.
sub startup_reasons {
    my @lines = grep { /\[(?:warn|error|crit|alert|emerg)\]/ } @{ error_log_lines() || [] };
    return '' unless @lines;
    splice @lines, 0, @lines - 10 if @lines > 10;
    return "error.log ($ErrLogFile), its warnings and errors:\n"
           . join('', map { "  $_" } @lines);
}

# nginx must fail to start: one test for that, then the error.log checks
# (which see nginx's stderr, see append_startup_stderr).
sub run_must_die {
    my ($block, $must_die) = @_;
    my $name = $block->name;
    $ErrLogPos = 0;
    # the [emerg] line is what the block expects: shown only if it fails
    local $QuietEmerg = 1;
    for my $i (0 .. $RepeatEach - 1) {
        my $failed = grep { !$_ } Test::More->builder->summary;
        my ($status) = run_nginx(0);
        if ($status == -1) {
            Test::More::fail("$name - failed to execute the nginx command line");
        } elsif ($status & 128) {
            Test::More::fail("$name - nginx core dumped");
        } elsif (looks_like_number($must_die)) {
            Test::More::is($must_die, $status >> 8, "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }
        check_error_log($block, $i);
        if (grep({ !$_ } Test::More->builder->summary) > $failed) {
            $ErrLogPos = 0;
            warn "WARNING: $name - " . fmt_str($_) . "\n"
                for grep { /\[emerg\]/ } @{ error_log_lines() || [] };
        }
        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; killing it (req $i)\n";
            stop_nginx();
        }
    }
}

# ==== requests (same bytes as the real Test::Nginx::Socket sends) ====

sub parse_more_headers {
    my ($out, $chunked) = ('', 0);
    for my $h (split /\n+/, shift // '') {
        next if $h =~ /^\s*#/;
        my ($k, $v) = split /:\s*/, $h, 2;
        $v //= '';
        $chunked = 1 if lc $k eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}

# "METHOD [URI [PROTO]]" on the first line, then the body.  Host and
# Connection are added unless given; a body gets Content-Length (unless given
# or chunked) and is then stripped of leading/trailing whitespace.
sub build_request {
    my ($name, $req, $more_headers, $conn) = @_;
    my ($hdrs, $chunked) = parse_more_headers($more_headers);
    $req //= '';
    1 while $req =~ s/^\s*\#[^\n]+\s+|^\s+//gs;    # leading blanks and comments
    my ($first, $body) = $req =~ /\A([^\n]*\n?)(.*)\z/s;
    $first =~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/
        or bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' "
                    . "but got \"$first\".");
    my ($meth, $url, $ver) = ($1, $2 // '/', $3 // 'HTTP/1.1');
    if (!$chunked && $body ne '' && $hdrs !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+|\s+$//gs;
        $hdrs .= "Content-Length: " . length($body) . "\r\n";
    }
    my $head = '';
    $head .= "Host: $ServerName\r\n" if $hdrs !~ /(?:^|\n)Host:/msi;
    $head .= "Connection: $conn\r\n" if $hdrs !~ /(?:^|\n)Connection/msi;
    return "$meth $url $ver\r\n$head$hdrs\r\n$body";
}

# more_headers may be an array: one entry per request.
sub more_headers_for {
    my ($block, $i) = @_;
    my $mh = $block->more_headers || '';
    return $mh unless ref $mh eq 'ARRAY';
    bail_out("--- more_headers lacks data for the ${i}th request") unless defined $mh->[$i];
    return $mh->[$i];
}

# A list of connections, each a list of packets {value, delay}.
sub get_requests {
    my $block = shift;
    my $name = $block->name;
    if (defined(my $raw = $block->raw_request)) {
        my $delay = parse_time(scalar $block->raw_request_middle_delay);
        return [[map { { value => $_, delay => $delay } } ref $raw eq 'ARRAY' ? @$raw : $raw]];
    }
    if (my $reqs = $block->pipelined_requests) {
        bail_out("$name - invalid entries in --- pipelined_requests") unless ref $reqs eq 'ARRAY';
        my $data = join '', map {
            build_request($name, $reqs->[$_], more_headers_for($block, $_),
                          $_ == $#$reqs ? 'close' : 'keep-alive')
        } 0 .. $#$reqs;
        return [[{ value => $data }]];
    }
    my $req = $block->request;
    return [] unless defined $req;
    bail_out("$name - invalid --- request: MUST be string or array of requests")
        if ref $req && ref $req ne 'ARRAY';
    my @list = ref $req ? @$req : ($req);
    return [map { [{ value => build_request($name, $list[$_], more_headers_for($block, $_),
                                            'close') }] } 0 .. $#list];
}

sub connect_server {
    my ($block, $timeout) = @_;
    my $name = $block->name;
    my ($deadline, $wait) = (time + ($ChildPid ? 30 : 10), $Sleep);
    while (1) {
        my $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr, PeerPort => $ServerPortForClient,
                                         Proto => 'tcp', Timeout => $timeout);
        return $sock if $sock;
        my $err = $!;
        my $gone = $ChildPid && waitpid($ChildPid, WNOHANG) == $ChildPid;
        if ($gone || time > $deadline) {
            if ($gone) { warn `tail -n20 $ErrLogFile`; undef $ChildPid }
            my $msg = "$name - Can't connect to $ServerAddr:$ServerPortForClient: $err (aborted)\n";
            bail_out($msg) if ++$ConnectFailures >= 3;
            Test::More->builder->no_ending(1);
            Test::More::fail($msg);
            return undef;
        }
        sleep $wait;
        $wait = min($wait * 1.5, 0.3);
    }
}

# Sends the packets on one connection and reads until the server closes it.
# $timeout is an inactivity timeout, as in the real one.
sub send_request {
    my ($block, $packets, $timeout) = @_;
    my $name = $block->name;
    my $sock = connect_server($block, $timeout) or return undef;
    $sock->blocking(0);
    local $SIG{PIPE} = 'IGNORE';
    my @queue = @$packets;
    my ($buf, $off, $resp, $writing) = ((shift @queue)->{value} // '', 0, '', 1);
    my $sel = IO::Select->new($sock);
    while (1) {
        my ($r, $w) = IO::Select->select($sel, $writing ? $sel : undef, undef, $timeout);
        if (!$r && !$w) {
            next if $! == EINTR;
            if (!defined $block->abort) {
                Test::More->builder->no_ending(1);
                Test::More::fail("ERROR: client socket timed out - $name\n");
            }
            last;
        }
        if ($w && @$w) {
            my $n = syswrite($sock, $buf, length($buf) - $off, $off);
            if (!defined $n) {
                if ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
                    warn "write failed: $!\n";
                    $resp = "write failed: $!" if $resp eq '';
                    $writing = 0;
                }
            } elsif (($off += $n) >= length $buf) {
                if (my $p = shift @queue) {
                    sleep $p->{delay} if $p->{delay};
                    ($buf, $off) = ($p->{value} // '', 0);
                } else {
                    $writing = 0;
                    my $shutdown = $block->shutdown;
                    shutdown($sock, $shutdown =~ /(\d)/ ? $1 : 1) if defined $shutdown;
                }
            }
        }
        if ($r && @$r) {
            my $n = sysread($sock, my $chunk, 8192);
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                warn "WARNING: $name - HTTP response read failure: $!\n";
                last;
            }
            last if $n == 0;
            $resp .= $chunk;
        }
    }
    close $sock;
    return $resp;
}

# HTTP/2: as in the real one, the HTTP/1 request is turned into a curl
# command line (--http2-prior-knowledge, curl -i output parsed as HTTP/1).
sub send_http2_request {
    my ($block, $packets, $timeout) = @_;
    my $name = $block->name;
    my $req = join '', map { $_->{value} } @$packets;
    $req =~ m{^\s*(\w+)\s+(\S+)\s+HTTP/(\S+)\r?\n}gc
        or bail_out("$name - cannot parse the status line in the request: $req");
    my ($meth, $uri, $ver) = ($1, $2, $3);
    my @args = ('curl', '-i', '-H', 'User-Agent:', '-H', 'Accept:', '-H', 'Host:',
                $Verbose ? '-vv' : '-sS', '--http2', '--http2-prior-knowledge',
                $meth eq 'HEAD' ? '-I' : ('-X', $meth), $ver ne '1.1' ? '-0' : ());
    $req =~ m{\G(.*?)\r?\n\r?\n}gcs
        or bail_out("cannot parse the header entries in the request: $req");
    my @headers = grep { !/^Connection\s*:/i } split /\r\n/, $1;
    push @args, map { ('-H', $_) } @headers;
    if ($req =~ m{\G(.+)}gcs) {
        spew("$HtmlDir/curl.data.bin", $1);
        push @args, '-H', 'Content-Type: ' unless grep { /^\s*Content-Type\s*:/i } @headers;
        push @args, '--data-binary', "\@$HtmlDir/curl.data.bin";
    }
    push @args, '--connect-timeout', $timeout, '--max-time', $timeout,
                "http://$ServerAddr:$ServerPortForClient$uri";
    warn "running cmd @args\n" if $Verbose;
    my (undef, $outfile) = tempfile('curl-out-XXXXXX', TMPDIR => 1, UNLINK => 1);
    my (undef, $errfile) = tempfile('curl-err-XXXXXX', TMPDIR => 1, UNLINK => 1);
    waitpid(spawn($outfile, $errfile, 0, @args), 0);
    my ($out, $err) = (slurp($outfile) // '', slurp($errfile) // '');
    unlink $outfile, $errfile;
    if ($out eq '') {
        Test::More::fail($err ne '' ? "$name - command \"@args\" generates stderr output: $err"
                                    : "$name - curl command \"@args\" generates no stdout output");
        return undef;
    }
    warn "WARNING: $name - command \"@args\" generates stderr output: $err" if $err ne '';
    return $out;
}

# ==== responses ====

# Returns ($res, $raw_headers, $left): $left is whatever follows this response
# (the next pipelined response).  Decodes chunked bodies.
sub parse_response {
    my ($name, $raw, $head_req) = @_;
    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';
    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) { $res->code(undef); $code = undef }
    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);
    my ($enc, $len, $left) = (scalar $res->header('Transfer-Encoding'),
                              scalar $res->header('Content-Length'));
    my $body = $res->content // '';
    if (defined $enc && $enc eq 'chunked') {
        my $decoded = '';
        while (1) {
            if ($body =~ /\G0[ \t]*\r\n\r\n/gc) {
                $left = $1 if $body =~ /\G(.+)/gcs;
                last;
            }
            my $err;
            if ($body =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*\r\n/gc) {
                my ($size, $pos) = (hex $1, pos $body);
                if (length($body) - $pos < $size) {
                    $err = "invalid chunked data received (not enough octets for the data section)";
                } else {
                    $decoded .= substr($body, $pos, $size);
                    pos($body) = $pos + $size;
                    $err = "invalid chunked data received (expected CRLF)." if $body !~ /\G\r\n/gc;
                }
            } else {
                $err = $body =~ /\G(.+)/gcs ? "invalid chunked body received: $1"
                                           : "no last chunk found - $body";
            }
            if ($err) {
                Test::More->builder->no_ending(1);
                Test::More::fail("$name - $err");
                return;
            }
        }
        $res->content($decoded);
    } elsif (defined $len && $len =~ /^\d+$/) {
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, but got ",
                length $body, "\n" unless $head_req;
        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }
    return ($res, $raw_headers, $left);
}

# One block repetition: send the request(s), check every response, then
# error.log.  With several responses (pipelined_requests or an array of
# requests) the expected values are arrays and, as in the real one, error.log
# is checked after each response, each check seeing only new lines.
sub run_requests {
    my ($block, $rep_idx) = @_;
    my $name = $block->name;
    my $conns = get_requests($block);
    bail_out("$name - request empty") unless @$conns;
    my $timeout = parse_time(scalar $block->timeout) // $Timeout;
    my $pipelined = $block->pipelined_requests ? scalar @{ $block->pipelined_requests } : 0;
    my $need_array = $pipelined || @$conns > 1;
    my $wait = parse_time(scalar $block->wait);
    my $req_idx = 0;
    for my $conn (@$conns) {
        my $head_req = $conn->[0]{value} =~ /^\s*HEAD\s+/;
        my $raw = (use_http2($block) ? send_http2_request($block, $conn, $timeout)
                                     : send_request($block, $conn, $timeout)) // '';
        my $n = $pipelined;
        while (1) {
            my ($res, $raw_headers, $left);
            ($res, $raw_headers, $left) = parse_response($name, $raw, $head_req)
                unless defined $block->ignore_response;
            if ($n) {
                ($raw, $n) = ($left // '', $n - 1);
            } elsif (defined $left && length $left) {
                $left =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                warn "WARNING: $name - unexpected extra bytes after last chunk in response: "
                    . "\"$left\"\n";
            }
            unless (defined $block->ignore_response) {
                check_status($block, $res, $req_idx, $need_array);
                check_headers($block, $res, $raw_headers, $req_idx, $need_array);
                check_body($block, $res, $req_idx, $rep_idx, $need_array);
            }
            if ($n || $req_idx < $#$conns) {
                sleep $wait if $wait;
                check_error_log($block, $rep_idx);
            }
            $req_idx++;
            last unless $n;
        }
    }
    sleep $wait if $wait;
    check_error_log($block, $rep_idx);
}

# ==== checks ====

sub indexed {
    my ($name, $value, $idx, $need_array) = @_;
    return ref $value eq 'ARRAY' ? $value->[0] : $value unless $need_array;
    return $value->[$idx] if ref $value eq 'ARRAY';
    bail_out("$name - You asked for many requests, the expected results should be arrays as well.");
}

sub check_status {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $pat = indexed($name, scalar $block->error_code_like, $idx, $need_array);
        Test::More::like($code, qr/$pat/sm, "$name - status code ok");
    } else {
        my $expected = defined $block->error_code
            ? indexed($name, scalar $block->error_code, $idx, $need_array) : 200;
        Test::More::is($code, $expected, "$name - status code ok");
    }
}

# "Name: value" per line; "!Name" means that the header must be absent.
sub parse_expected_headers {
    my @list;
    for my $line (split /\n/, shift // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        push @list, $line =~ s/^!\s*// ? [$line, undef] : [split /\s*:\s*/, $line, 2];
    }
    return @list;
}

sub check_headers {
    my ($block, $res, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;
    my $like = !defined $block->response_headers;
    my $spec = $like ? $block->response_headers_like : $block->response_headers;
    return unless defined $spec;
    for my $h (parse_expected_headers(indexed($name, $spec, $idx, $need_array))) {
        my ($key, $val) = @$h;
        my $actual = ($res ? scalar $res->header($key) : undef) // '';
        if ($like) {
            $val //= '';
            Test::More::like($actual, qr/^$val$/, "$name - header $key like ok");
        } elsif (!defined $val) {
            Test::More::unlike($raw_headers // '', qr/^\s*\Q$key\E\s*:/ms,
                               "$name - header $key not present in the raw headers");
        } else {
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            Test::More::is($actual, $val, "$name - header $key ok");
        }
    }
}

# response_body_filters: a code ref, the name of a built-in filter (uc, lc),
# or a list of these, applied in turn to every response body before the
# response_body checks.
my %BodyFilters = (uc => sub { uc shift }, lc => sub { lc shift });

sub filter_body {
    my ($block, $content) = @_;
    my $filters = $block->response_body_filters;
    return $content unless defined $filters && defined $content;
    my @list = ref $filters eq 'ARRAY' ? @$filters
             : ref $filters ? ($filters) : split ' ', $filters;
    for my $f (@list) {
        my $code = ref $f eq 'CODE' ? $f : $BodyFilters{$f}
            or bail_out($block->name . " - unknown response_body_filters \"$f\"");
        $content = $code->($content);
    }
    return $content;
}

sub check_body {
    my ($block, $res, $idx, $rep_idx, $need_array) = @_;
    my $name = $block->name;
    my $content = filter_body($block, $res ? $res->content : undef);
    if (defined $block->response_body) {
        my $expected = indexed($name, scalar $block->response_body, $idx, $need_array);
        if (ref $expected) {
            Test::More::like($content, $expected,
                             "$name - response_body - like (repeated req $rep_idx, req $idx)");
            return;
        }
        if (defined $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        is_str($content, $expected,
               "$name - response_body - response is expected (repeated req $rep_idx, req $idx)");
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $pat = indexed($name, scalar $block->${\"response_body_$type"}, $idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        (my $summary = $content // '') =~ s/^\s+|\s+$//g;
        $summary =~ s/\n/ /g;
        $summary =~ s/\s{2,}/ /g;
        my $desc = "$name - response_body_$type - response is expected ($summary)";
        $type eq 'like' ? Test::More::like($content, qr/$pat/s, $desc)
                        : Test::More::unlike($content, qr/$pat/s, $desc);
    }
}

# The lines of error.log written since the previous call (in this block).
sub error_log_lines {
    sleep $Sleep * 3;    # let nginx finish logging (log phase)
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogPos, 0 if !$CheckAccumErrLog && $ErrLogPos > 0;
    my @lines = <$in>;
    $ErrLogPos = tell $in unless $CheckAccumErrLog;
    return \@lines;
}

# a section value: lines of substrings, a qr//, or an array ref of either
sub pattern_list {
    my $pats = shift;
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats] if ref $pats;
    chomp $pats;
    return [split /\n+/, $pats];
}

sub line_matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ /$pat/ : index($line, $pat) >= 0;
}

sub check_error_log {
    my ($block, $rep_idx) = @_;
    my $name = $block->name;
    my $lines;

    if (defined(my $grep_pat = $block->grep_error_log)) {
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined")
            unless defined $expected;
        $grep_pat = $grep_pat->[$rep_idx] if ref $grep_pat eq 'ARRAY';
        $expected = $expected->[$rep_idx] if ref $expected eq 'ARRAY';
        if (defined $grep_pat) {
            $lines ||= error_log_lines();
            my $matched = '';
            for my $line (@$lines) {
                my $m = ref $grep_pat ? ($line =~ /$grep_pat/ ? $& : undef)
                                      : (index($line, $grep_pat) >= 0 ? $grep_pat : undef);
                $matched .= "$m\n" if defined $m && $m !~ /\n/;
            }
            is_str($matched, $expected, "$name - grep_error_log_out (req $rep_idx)");
        }
    } elsif (defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out is defined");
    }

    if (defined $block->error_log) {
        my $pats = pattern_list(scalar $block->error_log);
        $lines ||= error_log_lines();
        for my $line (@$lines) {
            for my $pat (@$pats) {
                next unless defined $pat && line_matches($line, $pat);
                Test::More::pass("$name - pattern \"$pat\" matches a line in error.log (req $rep_idx)");
                undef $pat;
            }
        }
        Test::More::fail("$name - pattern \"$_\" should match a line in error.log (req $rep_idx)")
            for grep { defined } @$pats;
    }

    if (defined $block->no_error_log) {
        my $pats = pattern_list(scalar $block->no_error_log);
        $lines ||= error_log_lines();
        my %found;
        for my $i (0 .. $#$lines) {
            for my $pat (grep { line_matches($lines->[$i], $_) } @$pats) {
                Test::More->builder->no_ending(1) if $found{$pat}++;
                Test::More::fail("$name - pattern \"" . fmt_str($pat) . "\" should not match any "
                    . "line in error.log but matches line \"" . fmt_str($lines->[$i])
                    . "\" (req $rep_idx)\n" . join('', @$lines[$i + 1 .. min($i + 9, $#$lines - 1)]));
            }
        }
        Test::More::pass("$name - pattern \"" . fmt_str($_) . "\" does not match a line in "
                         . "error.log (req $rep_idx)") for grep { !$found{$_} } @$pats;
    }

    # as in the real one: warn about alert/crit/emerg lines the test does not
    # look for, fail on assertion failures
    my %wanted;
    for my $lvl (qw(alert crit emerg)) {
        for my $sec (grep { defined } $block->error_log, $block->no_error_log) {
            $wanted{$lvl} = 1 if grep { index("$_", "[$lvl") >= 0 } ref $sec eq 'ARRAY' ? @$sec : $sec;
        }
    }
    $lines ||= error_log_lines();
    $wanted{emerg} = 1 if $QuietEmerg;
    for my $line (@$lines) {
        warn "WARNING: $name - " . fmt_str($line) . "\n"
            if grep { !$wanted{$_} && $line =~ /\[$_\]/ } qw(alert crit emerg);
        if ($line =~ /\bAssertion .*?failed\b/) {
            Test::More->builder->no_ending(1);
            chomp(my $l = $line);
            Test::More::fail("$name - $l\n");
        }
    }
}

1;

__END__

=head1 NAME

Test::Nginx::Socket - small local implementation of the Test::Nginx::Socket
test-file interface, used when the CPAN module is not installed

=head1 SUPPORTED

Functions: plan, run_tests, blocks and the other Test::Base/Test::More
exports, repeat_each, no_shuffle, master_on, master_off,
master_process_enabled, workers, worker_connections, log_level,
no_long_string, no_root_location, no_diff, env_to_nginx,
add_block_preprocessor, server_name, server_addr, server_port,
server_port_for_client, server_root, html_dir, timeout, is_str, bail_out,
add_cleanup_handler, check_accum_error_log, use_hup.

Sections: main_config, post_main_config, http_config, config, server_name,
user_files, init, log_level, request (string or array of strings),
more_headers (string or array), raw_request (string or array of packets),
raw_request_middle_delay, pipelined_requests, http2, timeout, abort, shutdown,
ignore_response, wait, error_code, error_code_like, response_body,
response_body_like, response_body_unlike, response_body_filters,
response_headers,
response_headers_like, error_log, no_error_log, grep_error_log,
grep_error_log_out, must_die, skip_eval, skip_nginx, skip_nginx2 (as in the
real one: skip_eval's Perl code is evaluated, the versions are compared
with the nginx -V of TEST_NGINX_BINARY); ONLY, SKIP, LAST come from
Test::Base.  Blocks using other sections of the real module fail.

Environment: TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES, TEST_NGINX_SERVER_PORT,
TEST_NGINX_PORT, TEST_NGINX_CLIENT_PORT, TEST_NGINX_SERVROOT,
TEST_NGINX_USE_VALGRIND, TEST_NGINX_USE_HTTP2, TEST_NGINX_NO_CLEAN,
TEST_NGINX_NO_SHUFFLE, TEST_NGINX_LOG_LEVEL, TEST_NGINX_MASTER_PROCESS,
TEST_NGINX_TIMEOUT, TEST_NGINX_SLEEP, TEST_NGINX_VERBOSE,
TEST_NGINX_CHECK_ACCUM_ERR_LOG, TEST_NGINX_USE_HUP; $TEST_NGINX_* in config
text.  TEST_NGINX_CHECK_LEAK and TEST_NGINX_BENCHMARK only turn HUP mode off
(with a warning, as in the real one); those modes are not implemented.

=head1 HUP MODE

With TEST_NGINX_USE_HUP true when the module is loaded (a test file sets it
in a BEGIN block before C<use Test::Nginx::Socket>, usually with
no_shuffle()), or after use_hup(), a block with a --- config reloads the
nginx started for an earlier block instead of restarting it: the server
root is cleaned (see clean_server_root_for_hup: the pid file, unix sockets,
certificates, keys and directories stay; error.log and access.log are
emptied), the block's user files and nginx.conf are written, the master gets
SIGHUP, and the block starts once new workers are up and the old ones have
stopped accepting (see reload_nginx).  Shared memory zones therefore keep
their contents from block to block, as with C<nginx -s reload>.  Each
block's error.log checks see what was logged from its reload on.  A reload
that nginx rejects fails one test and the block runs against the previous
configuration.  The first block, a block after a must_die block (which never
uses HUP), and a block after nginx died start nginx from scratch (a master
that exits while reloading fails a test first).  As in the
real one, HUP mode sets master_process on (for good: master_process_enabled()
then says 'on'), also under valgrind, where nginx stays up across blocks and
valgrind.log is checked after each block, after each reload (old workers
report their leaks when they exit; reported under the previous block's
name) and once nginx is stopped at the end.

=head1 DIFFERENCES FROM THE REAL MODULE

nginx's stderr at startup is appended to logs/error.log (see
append_startup_stderr).  load_module lines come first in nginx.conf, and
*_temp_path directives under the server root are added to http {}.  Under
TEST_NGINX_USE_VALGRIND nginx runs with master_process off, valgrind writes
to logs/valgrind.log and errors found there fail the block.  An unset
$TEST_NGINX_HTML_DIR falls back to html_dir() with a warning.  Response
headers are checked in the order written.

HUP mode: the real one waits for a reload by polling a /ver location of an
extra "Test-Nginx" server it adds to nginx.conf; here no server is added and
the worker processes are watched instead (Linux /proc), so a failed reload
is noticed at once rather than after many tries.  The real one removes the
log files and sends USR1 before HUP; here error.log and access.log are
truncated (same result: a fresh log per reloaded block).  Only html/, logs/,
conf/, *_temp and *_cache are cleaned, as in a restart, where the real one
removes every file under the server root except the pid file, *.sock, *.crt
and *.key.  The sections reload_fails and shutdown_error_log stay
unsupported.

=cut
