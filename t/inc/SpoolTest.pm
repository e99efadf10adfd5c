package SpoolTest;

# Helpers of the store-and-forward tests (t/10x-spool*.t): the app behind the
# spool (t/inc/spool-app.pl, a real HTTP server that can be down, failing,
# slow, and that records what it receives), waiting with a deadline, and a
# snapshot of what a user relies on (what the app received, the files in the
# spool's directories, the spool's metrics) written to the html dir, where
# a block's "GET /snapshot" reads it.
#
# The spool and the app live in directories of their own, outside the
# server root that the runners empty between blocks: a spool must outlive
# nginx restarts.  Their paths reach nginx.conf as $TEST_NGINX_SPOOL_DIR and
# $TEST_NGINX_APP_DIR.

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use FindBin;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);

use TeachfloorTest ();

our @EXPORT = qw(app_start app_stop app_set app_reset app_requests
                 app_pids wait_until snapshot spool_names nginx_pids
                 ev got post_v6 http http_nowhere gate metrics queued_name
                 fix_upstream fix_upstream_and_reload upgrade_binary
                 put_record);

our $SpoolDir;
our $AppDir;
my $app_pid;

BEGIN {
    $SpoolDir = $ENV{TEST_NGINX_SPOOL_DIR}
        ||= tempdir('tf-spool-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $AppDir = $ENV{TEST_NGINX_APP_DIR}
        ||= tempdir('tf-app-XXXXXX', TMPDIR => 1, CLEANUP => 1);
}

sub write_file {
    my ($path, $content) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $content;
    close $fh;
}

sub read_file {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return '';
    local $/;
    my $s = <$fh>;
    close $fh;
    return $s // '';
}

# the app listens (again); waits until its socket is there
sub app_start {
    return if $app_pid;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        exec $^X, "$FindBin::Bin/inc/spool-app.pl", $AppDir
            or POSIX::_exit(1);
    }
    $app_pid = $pid;
    wait_until(sub { -S "$AppDir/app.sock" }, 5)
        or die "the app did not start: see $AppDir";
}

# the app is gone: connections to it are refused
sub app_stop {
    return unless $app_pid;
    kill 'TERM', $app_pid;
    waitpid $app_pid, 0;
    undef $app_pid;
    unlink "$AppDir/app.sock";
}

# app_set(status => 503, delay => 1)
sub app_set {
    my (%set) = @_;
    write_file("$AppDir/$_", "$set{$_}\n") for keys %set;
}

# forgets what the app received; it answers 200 at once again
sub app_reset {
    unlink map { "$AppDir/$_" } qw(requests pids max active status delay);
}

sub app_requests {
    my @lines = split /\n/, read_file("$AppDir/requests");
    return @lines;
}

# the pids of the processes that connected to the app, in order
sub app_pids {
    return split /\n/, read_file("$AppDir/pids");
}

# true once CODE is, false if it is not within SECONDS (default 10)
sub wait_until {
    my ($code, $seconds) = @_;
    my $deadline = time + ($seconds || 10);
    while (time < $deadline) {
        return 1 if $code->();
        sleep 0.05;
    }
    return $code->() ? 1 : 0;
}

# the files in one of a spool's directories, sorted
sub spool_names {
    my ($zone, $dir) = @_;
    opendir my $dh, "$SpoolDir/$zone/$dir" or return ();
    my @names = sort grep { !/^\./ } readdir $dh;
    closedir $dh;
    return @names;
}

sub fetch_metrics {
    my ($zone) = @_;
    my $port = Test::Nginx::Socket::server_port_for_client();
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 5)
        or return "metrics: $!\n";
    print $s "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
    local $/;
    my $answer = <$s> // '';
    # counters and the gauges a test can know; not the ages and sums
    my @lines = grep { /^teachfloor_spool_/ && /zone="\Q$zone\E"/
                       && !/oldest_age|delivery_seconds_sum/ }
                split /\r?\n/, $answer;
    # the bytes gauge against the files in queue/ (their sizes vary with
    # the headers): "SIZE(queue)" when it is their sum
    my $size = 0;
    $size += -s "$SpoolDir/$zone/queue/$_"
        for grep { !/\.state$/ } spool_names($zone, 'queue');
    s/^(teachfloor_spool_bytes\S+) (\d+)$/$1 SIZE(queue)/
        for grep { $size && /^teachfloor_spool_bytes\S+ $size$/ } @lines;
    return join '', map { "$_\n" } @lines;
}

# Writes html/snapshot: what the app received (in the order received; with
# sorted => 1 sorted, where deliveries race), the files in the spool ZONE's
# directories and what their .state files say, the most requests the app
# held at once (with max => 1), the zone's metrics.  Event files are named
# E1, E2, ... in the order of their names, i.e. of acceptance (a name is
# the acceptance time in ms, the pid and a sequence number).
sub snapshot {
    my ($zone, %with) = @_;
    my (%alias, @all);
    for my $dir (qw(tmp queue dead requeue)) {
        push @all, map { /^([0-9a-f-]{31})/ ? $1 : () }
                   spool_names($zone, $dir);
    }
    my $n = 0;
    $alias{$_} //= 'E' . ++$n for sort @all;
    my $out = '';
    # in the order received, or sorted where several deliveries race
    my @got = app_requests();
    @got = sort @got if $with{sorted};
    $out .= "app: $_\n" for @got;
    for my $dir (qw(tmp queue dead requeue)) {
        my @names = map { s/^([0-9a-f-]{31})/$alias{$1}/r }
                    spool_names($zone, $dir);
        $out .= "$dir:" . join('', map { " $_" } @names) . "\n";
    }
    # what the state files say: the attempts and the last error
    for my $dir (qw(queue dead)) {
        for my $name (grep { /\.state$/ } spool_names($zone, $dir)) {
            my $state = read_file("$SpoolDir/$zone/$dir/$name");
            my ($attempts) = $state =~ /^attempts (.*)$/m;
            my ($error) = $state =~ /^error (.*)$/m;
            (my $alias = $name) =~ s/^([0-9a-f-]{31})/$alias{$1}/;
            $out .= "$dir/$alias: attempts " . ($attempts // '?')
                    . ", error " . ($error // '?') . "\n";
        }
    }
    if ($with{max}) {
        $out .= "app at once: " . (read_file("$AppDir/max") =~ /(\d+)/
                                   ? $1 : 0) . "\n";
    }
    $out .= fetch_metrics($zone);
    write_file(Test::Nginx::Socket::html_dir() . "/snapshot", $out);
    return $out;
}

# the pids of nginx's master and workers, master first
sub nginx_pids {
    my $pidfile = Test::Nginx::Socket::server_root() . "/logs/nginx.pid";
    my ($master) = read_file($pidfile) =~ /(\d+)/ or return ();
    my @workers;
    for my $stat (glob "/proc/[0-9]*/stat") {
        my $s = read_file($stat);
        push @workers, $1 if $s =~ /^(\d+) \(.*\) \S+ (\d+)/ && $2 == $master;
    }
    return ($master, @workers);
}


# ==== the configuration and what the blocks expect ====

# an event; the name is not ASCII and has quotes: the app must get it byte
# for byte; with PAD, PAD bytes more
sub ev {
    my ($n, $pad) = @_;
    return qq({"event":"member.joined","timestamp":"2025-10-07T15:30:00Z",)
         . qq("data":{"n":$n,"name":"Zo\xc3\xab O'Brien <&>")
         . ($pad ? qq(,"pad":") . ('x' x ($pad - 9)) . '"' : '') . '}}';
}

# what the app records of a delivery of ev(N, PAD) sent to /wh?n=N
# (from the sender's address REMOTE, 127.0.0.1 by default)
sub got {
    my ($n, $status, $pad, $remote) = @_;
    return "app: " . ($status // 200) . " POST /app?n=$n sig=ok "
           . "event=member.joined remote=" . ($remote // '127.0.0.1')
           . " body=" . ev($n, $pad) . "\n";
}

# POSTs ev(N), signed, to /wh?n=N over IPv6 (::1, nginx's port); returns
# the answer's status and body
sub post_v6 {
    my ($n) = @_;
    require IO::Socket::IP;
    my $port = Test::Nginx::Socket::server_port_for_client();
    my $s = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $port,
                                Timeout => 5)
        or return "connect to [::1]:$port: $@";
    my $body = ev($n);
    print $s "POST /wh?n=$n HTTP/1.0\r\nHost: localhost\r\n"
             . TeachfloorTest::signed($body) . "\r\n"
             . "Content-Length: " . length($body) . "\r\n\r\n$body";
    local $/;
    my $answer = <$s> // '';
    my ($status) = $answer =~ m{^HTTP/1\.\d (\d+)};
    my ($content) = $answer =~ /\r\n\r\n(.*)/s;
    return ($status // '?') . " " . ($content // '');
}

# http{}: a spool ZONE in a directory of its own, with PARAMS; the app
sub http {
    my ($zone, $params, $extra) = @_;
    return qq{
    teachfloor_spool_path \$TEST_NGINX_SPOOL_DIR/$zone zone=$zone:1m $params;
    upstream app {
        server unix:\$TEST_NGINX_APP_DIR/app.sock;
    }
    } . ($extra // '');
}

# the same with the app at an address where nothing listens, as when the
# upstream is misconfigured: unreachable however the app is
sub http_nowhere {
    return http(@_) =~ s{/app\.sock;}{/nowhere.sock;}r;
}

# the operator fixes the upstream in nginx.conf
sub fix_upstream {
    my $conf = Test::Nginx::Socket::server_root() . "/conf/nginx.conf";
    my $text = read_file($conf);
    $text =~ s{/nowhere\.sock;}{/app.sock;}g or die "no nowhere.sock in $conf";
    write_file($conf, $text);
}

# ... and reloads; waits until new workers replaced the old ones
sub fix_upstream_and_reload {
    fix_upstream();
    my ($master, @old) = nginx_pids();
    kill 'HUP', $master or die "kill -HUP $master: $!";
    wait_until(sub {
        my ($m, @new) = nginx_pids();
        my %old = map { $_ => 1 } @old;
        @new && !grep { $old{$_} } @new;
    }) or die "no new workers after the reload";
}

# server{}: the gate on /wh storing in ZONE and delivering to the app's
# /app (the app sees /app?n=N), and the metrics
sub gate {
    my ($zone, $extra) = @_;
    $extra //= '';
    return qq{
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_spool   zone=$zone;
        $extra
        proxy_set_header   X-Event \$teachfloor_event;
        proxy_set_header   X-Remote \$remote_addr;
        proxy_pass         http://app/app;
    }

    location = /metrics {
        teachfloor_metrics;
    }
};
}

# the spool's metrics as snapshot() shows them, 0 unless given
sub metrics {
    my ($zone, %m) = @_;
    my %v = (queued => 0, delivered => 0, status => 0, unreachable => 0,
             dead => 0, full => 0, error => 0, events => 0, bytes => 0,
             in_flight => 0, count => 0, %m);
    my $z = qq{zone="$zone"};
    return "teachfloor_spool_queued_total{$z} $v{queued}\n"
         . "teachfloor_spool_delivered_total{$z} $v{delivered}\n"
         . "teachfloor_spool_retries_total{$z,reason=\"status\"} $v{status}\n"
         . "teachfloor_spool_retries_total{$z,reason=\"unreachable\"} "
         . "$v{unreachable}\n"
         . "teachfloor_spool_dead_letters_total{$z} $v{dead}\n"
         . "teachfloor_spool_refused_total{$z,reason=\"full\"} $v{full}\n"
         . "teachfloor_spool_refused_total{$z,reason=\"error\"} $v{error}\n"
         . "teachfloor_spool_events{$z} $v{events}\n"
         . "teachfloor_spool_bytes{$z} $v{bytes}\n"
         . "teachfloor_spool_in_flight{$z} $v{in_flight}\n"
         . "teachfloor_spool_delivery_seconds_count{$z} $v{count}\n";
}

# an event file's name in the log
sub queued_name { qr/[0-9a-f]{13}-[0-9a-f]{8}-[0-9a-f]{8}/ }

# A record made by hand (FIELDS and HEADERS as they are in the file, then
# BODY), put in ZONE's requeue/ as an operator would, ten seconds old so
# that a worker takes it at once; N makes its name.  With SPARSE, the body
# is that many bytes of a sparse file instead.
sub put_record {
    my ($zone, $n, $fields, $headers, $body, $sparse) = @_;
    my $rest = "accepted " . int(time * 1000) . "\nbody "
               . ($sparse // length $body) . "\n$fields\n\n$headers\n";
    my $first = "teachfloor-spool 1 ";
    my $file = "$SpoolDir/$zone/requeue/"
               . sprintf("%013x-%08x-%08x", int(time * 1000), 7, $n);
    open my $fh, '>:raw', $file or die "$file: $!";
    print $fh $first, sprintf("%010d\n", length($first) + 11 + length $rest),
              $rest, $sparse ? '' : $body;
    truncate $fh, tell($fh) + $sparse or die "$file: $!" if $sparse;
    close $fh or die "$file: $!";
    utime time - 10, time - 10, $file;
    return $file;
}

# The binary upgrade (USR2): a new master and its workers (with a spool
# zone of their own, rebuilt from queue/) next to the old ones for SECONDS,
# then the old master is told to quit (QUIT) and is waited for.
sub upgrade_binary {
    my ($seconds) = @_;
    my $pidfile = Test::Nginx::Socket::server_root() . "/logs/nginx.pid";
    my ($old) = nginx_pids() or die "no nginx to upgrade";
    kill 'USR2', $old or die "kill -USR2 $old: $!";
    wait_until(sub { -f "$pidfile.oldbin"
                     && (read_file($pidfile) =~ /(\d+)/)[0] != $old })
        or die "no new master after USR2";
    sleep $seconds;
    kill 'QUIT', $old;
    wait_until(sub { my $s = read_file("/proc/$old/stat");
                     $s eq '' || $s =~ /^\d+ \(.*\) Z/ })
        or die "the old master $old did not quit";
}

# kill -9 of nginx's master and workers at once, as a crash or the OOM
# killer would; the pid file stays behind, as it would: removed, so that
# the runner starts a new nginx
sub kill_nginx {
    my @pids = nginx_pids() or die "no nginx to kill";
    kill 'KILL', @pids;
    wait_until(sub {
        !grep { my $s = read_file("/proc/$_/stat");
                $s ne '' && $s !~ /^\d+ \(.*\) Z/ } @pids
    }, 5) or die "nginx (@pids) did not die";
    unlink Test::Nginx::Socket::server_root() . "/logs/nginx.pid";
}

# The blocks' preprocessor:
#   --- post_events: FIRST LAST    ev(N) to /wh?n=N for each N, signed,
#                                  each answered 202 queued
#   --- kill_nginx_first           kill_nginx() before the block (the
#                                  runner then starts nginx again)
# and a POST's body signed, unless the block says its headers.
sub preprocess {
    my ($block) = @_;
    if (defined $block->post_events) {
        my ($first, $last) = split ' ', $block->post_events;
        my @n = $first .. $last;
        $block->set_value('request', [map { "POST /wh?n=$_\n" . ev($_) } @n]);
        $block->set_value('more_headers',
                          [map { TeachfloorTest::signed(ev($_)) } @n]);
        $block->set_value('error_code', [(202) x @n]);
        $block->set_value('response_body',
                          [("{\"result\":\"queued\"}\n") x @n]);
    }
    if (defined $block->request && !defined $block->more_headers
        && $block->request =~ /^POST/)
    {
        (my $body = $block->request) =~ s/^[^\n]*\n//;
        $block->set_value('more_headers', TeachfloorTest::signed($body));
    }
    kill_nginx() if defined $block->kill_nginx_first;
}

my $parent = $$;

END {
    app_stop() if $$ == $parent;
}

1;
