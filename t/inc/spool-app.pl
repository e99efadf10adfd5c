#!/usr/bin/env perl
# The app behind a spool in t/10x-spool*.t: a small HTTP server on the unix
# socket DIR/app.sock that records every request it receives, so a test can
# count deliveries and see exactly what arrived.
#
#   spool-app.pl DIR
#
# Each connection is served by a child of its own.  Per request, one line is
# appended to DIR/requests:
#
#   STATUS METHOD URI sig=ok|bad|none event=X-Event remote=X-Remote body=BODY
#
# (BODY byte for byte, but for backslash, CR and LF, written \xHH)
# (sig=ok: Teachfloor-Signature is the HMAC of the body received, as the app
# would check it).  DIR/status holds the status to answer (default 200),
# DIR/delay the seconds to wait before answering (default 0).  DIR/max is the
# largest number of requests it held at once; DIR/pids the pid of the
# process at the other end of each connection (SO_PEERCRED), one a line.

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256_hex);
use Fcntl qw(:flock O_RDWR O_CREAT);
use IO::Socket::UNIX;
use Socket qw(SOL_SOCKET SOCK_STREAM);
use Time::HiRes qw(sleep);

my $dir = shift or die "usage: $0 DIR\n";
my $secret = 'whsec_test';

unlink "$dir/app.sock";
my $listen = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "$dir/app.sock",
                                   Listen => 128)
    or die "$dir/app.sock: $!";

$SIG{CHLD} = 'IGNORE';
$SIG{TERM} = sub { unlink "$dir/app.sock"; exit 0 };

sub slurp_or {
    my ($file, $default) = @_;
    open my $fh, '<', $file or return $default;
    my $v = <$fh>;
    close $fh;
    return defined $v && $v =~ /(\S+)/ ? $1 : $default;
}

# runs CODE with DIR/lock held: the counters are shared by the children
sub locked {
    my ($code) = @_;
    open my $lock, '>>', "$dir/lock" or die "$dir/lock: $!";
    flock $lock, LOCK_EX or die "flock: $!";
    my @r = $code->();
    close $lock;
    return @r;
}

sub counter {
    my ($name, $delta) = @_;
    my $n = slurp_or("$dir/$name", 0) + $delta;
    open my $fh, '>', "$dir/$name" or die "$dir/$name: $!";
    print $fh "$n\n";
    close $fh;
    return $n;
}

sub append {
    my ($name, $line) = @_;
    open my $fh, '>>:raw', "$dir/$name" or die "$dir/$name: $!";
    print $fh $line;
    close $fh;
}

sub serve {
    my ($c) = @_;
    binmode $c;

    my $cred = getsockopt($c, SOL_SOCKET, 17);    # SO_PEERCRED on Linux
    my $peer = $cred ? (unpack 'i', $cred) : 0;

    my $head = '';
    while ($head !~ /\r\n\r\n/) {
        my $n = sysread $c, $head, 4096, length $head;
        return unless $n;
    }
    my ($lines, $body) = split /\r\n\r\n/, $head, 2;
    my ($request, @headers) = split /\r\n/, $lines;
    my %h;
    for (@headers) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $h{lc $k} = $v;
    }
    my $len = $h{'content-length'} // 0;
    while (length $body < $len) {
        my $n = sysread $c, $body, $len - length $body, length $body;
        last unless $n;
    }
    my ($method, $uri) = split / /, $request;

    my $status = slurp_or("$dir/status", 200);
    my $delay = slurp_or("$dir/delay", 0);
    my $sig = !defined $h{'teachfloor-signature'} ? 'none'
            : $h{'teachfloor-signature'} eq hmac_sha256_hex($body, $secret)
            ? 'ok' : 'bad';

    (my $shown = $body) =~ s/([\\\n\r])/sprintf '\\x%02x', ord $1/ge;

    locked(sub {
        my $now = counter('active', 1);
        counter('max', 0) < $now and counter('max', $now - counter('max', 0));
        append('pids', "$peer\n");
        append('requests', "$status $method $uri sig=$sig event="
               . ($h{'x-event'} // '') . " remote=" . ($h{'x-remote'} // '')
               . " body=$shown\n");
    });

    sleep $delay if $delay;

    locked(sub { counter('active', -1) });

    print $c "HTTP/1.1 $status Answered\r\nContent-Length: 3\r\n"
             . "Connection: close\r\n\r\nok\n";
    close $c;
}

# the test that started it is gone (killed, say): the app goes too
my $parent = getppid;
$listen->timeout(1);

while (1) {
    my $c = $listen->accept;
    if (!$c) {
        if (getppid != $parent) {
            unlink "$dir/app.sock";
            exit 0;
        }
        next;
    }
    my $pid = fork;
    if (defined $pid && $pid == 0) {
        close $listen;
        $SIG{TERM} = 'DEFAULT';
        serve($c);
        exit 0;
    }
    close $c;
}
