#!/usr/bin/perl
# An open-loop HTTP/1.1 load generator for scripts/bench-spool: request i is
# due at START + i / RATE whatever happened to the ones before it (no
# coordinated omission: a slow answer does not delay the next request), on
# a pool of keep-alive connections that grows when none is idle (up to
# --max-conns; past that a due request waits, and its wait counts in its
# latency).  The latency of a request is from the time it was due to the
# last byte of its answer.  Prints one line:
#
#   sent=N answered=N errors=N status=202:N,... p50_ms=.. p90_ms=..
#   p99_ms=.. max_ms=.. mean_ms=.. rate=.. conns=N
#
#   openloop.pl --port P [--path /hook] [--method POST|GET] [--body FILE
#               --sig HEX] --rate R (--count N | --seconds S)
#               [--max-conns 256] [--expect 202] [--latencies FILE]
#
# --expect: exit 1 when any answer has another status (or none came).
# Traffic goes to 127.0.0.1 only.  Core Perl only.

use v5.36;
use Getopt::Long;
use IO::Socket::INET;
use Time::HiRes qw(time);
use Errno qw(EAGAIN EINPROGRESS EWOULDBLOCK EINTR);

$SIG{PIPE} = 'IGNORE';

my ($port, $path, $method, $file, $sig, $rate, $count, $seconds, $max, $expect, $lfile)
    = (undef, '/hook', 'POST', undef, undef, undef, undef, undef, 256, undef, undef);
GetOptions('port=i' => \$port, 'path=s' => \$path, 'method=s' => \$method,
           'body=s' => \$file, 'sig=s' => \$sig, 'rate=f' => \$rate,
           'count=i' => \$count, 'seconds=f' => \$seconds,
           'max-conns=i' => \$max, 'expect=i' => \$expect,
           'latencies=s' => \$lfile)
    or die "openloop.pl: bad arguments\n";
die "openloop.pl: --port and --rate are required\n" unless $port && $rate && $rate > 0;
$count //= int(($seconds // 10) * $rate);

my $body = '';
if ($method eq 'POST') {
    open my $fh, '<:raw', $file or die "openloop.pl: --body: $!\n";
    local $/;
    $body = <$fh>;
}
my $req = "$method $path HTTP/1.1\r\nHost: bench\r\n"
        . ($method eq 'POST'
           ? "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n"
             . ($sig ? "Teachfloor-Signature: $sig\r\n" : '')
           : '')
        . "\r\n$body";

my (@conns, @idle, @waiting, @lat, %status);
my ($sent, $done, $errors) = (0, 0, 0);

sub connect_one {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Blocking => 0);
    return undef unless $s;
    my $c = { sock => $s, fd => fileno($s), w => '', r => '', due => undef };
    push @conns, $c;
    return $c;
}

sub start($c, $due) {
    $c->{due} = $due;
    $c->{w} = $req;
    $c->{r} = '';
    $sent++;
}

sub drop($c) {
    close $c->{sock};
    @conns = grep { $_ != $c } @conns;
    @idle = grep { $_ != $c } @idle;
}

sub finish_req($c, $st) {
    push @lat, time - $c->{due};
    $status{$st}++;
    $done++;
    $c->{due} = undef;
}

my $t0 = time + 0.05;
my $i = 0;
my $last_due = $t0 + ($count - 1) / $rate;

while ($done + $errors < $count) {
    my $now = time;
    while ($i < $count && $t0 + $i / $rate <= $now) {
        push @waiting, $t0 + $i / $rate;
        $i++;
    }
    while (@waiting) {
        my $c = shift @idle;
        $c //= @conns < $max ? connect_one() : undef;
        last unless $c;
        start($c, shift @waiting);
    }
    my ($rin, $win) = ('', '');
    for my $c (@conns) {
        next unless defined $c->{due};
        vec($rin, $c->{fd}, 1) = 1;
        vec($win, $c->{fd}, 1) = 1 if length $c->{w};
    }
    my $wait = $i < $count ? $t0 + $i / $rate - time : 0.5;
    $wait = 0 if $wait < 0;
    my $n = select(my $rout = $rin, my $wout = $win, undef, $wait);
    next if $n <= 0;
    for my $c (@conns) {
        next unless defined $c->{due};
        if (length $c->{w} && vec($wout, $c->{fd}, 1)) {
            my $k = syswrite($c->{sock}, $c->{w});
            if (defined $k) { substr($c->{w}, 0, $k) = '' }
            elsif ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR && $! != EINPROGRESS) {
                $errors++; drop($c); next;
            }
        }
        next unless vec($rout, $c->{fd}, 1);
        my $k = sysread($c->{sock}, $c->{r}, 65536, length $c->{r});
        if (!defined $k) {
            next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            $errors++; drop($c); next;
        }
        if ($k == 0) { $errors++; drop($c); next }
        my $he = index($c->{r}, "\r\n\r\n");
        next if $he < 0;
        my $head = substr($c->{r}, 0, $he);
        my ($st) = $head =~ m{^HTTP/1\.\d (\d{3})};
        my $len = $head =~ /^Content-Length:\s*(\d+)/mi ? $1 : 0;
        next if length($c->{r}) < $he + 4 + $len;
        finish_req($c, $st // 'bad');
        if ($head =~ /^Connection:\s*close/mi) { drop($c) } else { push @idle, $c }
    }
}
my $elapsed = time - $t0;

@lat = sort { $a <=> $b } @lat;
sub pct($p) { @lat ? $lat[int($p / 100 * $#lat + 0.5)] * 1000 : 0 }
my $mean = 0;
$mean += $_ for @lat;
$mean = @lat ? $mean / @lat * 1000 : 0;
printf "sent=%d answered=%d errors=%d status=%s p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f mean_ms=%.2f rate=%.1f conns=%d\n",
    $sent, $done, $errors, join(',', map { "$_:$status{$_}" } sort keys %status) || 'none',
    pct(50), pct(90), pct(99), pct(100), $mean, $done / ($elapsed || 1), scalar @conns;
if ($lfile) {
    open my $lf, '>', $lfile or die "$lfile: $!\n";
    printf $lf "%.3f\n", $_ * 1000 for @lat;
}
exit 1 if defined $expect && ($errors || $done != $count || grep { $_ ne $expect } keys %status);
exit 0;
