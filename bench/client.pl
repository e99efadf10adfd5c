#!/usr/bin/perl
# A small sequential HTTP/1.1 client for scripts/bench: POSTs one body COUNT
# times over one keep-alive connection (reconnecting only if the server
# closes it), one request at a time, and prints how many answers had each
# status ("204=1200").  Exits 1 when any answer differs from --expect.
#
#   client.pl --port P [--path /hook] --count N --body FILE
#             (--sig HEX | --secret S) [--unique] [--expect 204]
#
# --unique makes every request a distinct event of the same length (the
# member id "mem_abc123" becomes "m_00000001", ...), signed with --secret:
# for gates that deduplicate.  Traffic goes to 127.0.0.1 only.

use strict;
use warnings;
use Getopt::Long;
use IO::Socket::INET;
use Digest::SHA qw(hmac_sha256_hex);

my ($port, $path, $count, $file, $sig, $secret, $unique, $expect)
    = (undef, '/hook', 1, undef, undef, undef, 0, undef);

GetOptions('port=i' => \$port, 'path=s' => \$path, 'count=i' => \$count,
           'body=s' => \$file, 'sig=s' => \$sig, 'secret=s' => \$secret,
           'unique' => \$unique, 'expect=i' => \$expect)
    or die "usage: client.pl --port P --count N --body FILE --sig HEX\n";

die "client.pl: --port and --body are required\n" unless $port && $file;
die "client.pl: --count must be 1..1000000\n" if $count < 1 || $count > 1e6;

open my $fh, '<:raw', $file or die "client.pl: $file: $!\n";
my $body = do { local $/; <$fh> };
close $fh;

if (!defined $sig) {
    die "client.pl: --sig or --secret is required\n" unless defined $secret;
    $sig = hmac_sha256_hex($body, $secret);
}

if ($unique) {
    die "client.pl: --unique needs --secret\n" unless defined $secret;
    die "client.pl: --unique needs a body with \"mem_abc123\"\n"
        unless index($body, '"mem_abc123"') >= 0;
}

my $sock;
my %seen;

sub connect_once {
    $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 30)
        or die "client.pl: connect 127.0.0.1:$port: $!\n";
    $sock->autoflush(1);
    binmode $sock;
}

# reads exactly $n bytes (or to EOF when $n is undef)
sub read_n {
    my ($buf, $n) = @_;
    while (!defined $n || length($$buf) < $n) {
        my $r = sysread($sock, my $chunk, 65536);
        die "client.pl: read: $!\n" unless defined $r;
        last if $r == 0;
        $$buf .= $chunk;
    }
}

my $pending = '';

sub read_response {
    my $head;
    for (;;) {
        my $i = index($pending, "\r\n\r\n");
        if ($i >= 0) {
            $head = substr($pending, 0, $i + 4, '');
            last;
        }
        my $r = sysread($sock, my $chunk, 65536);
        die "client.pl: read: $!\n" unless defined $r;
        return (undef, 1) if $r == 0;
        $pending .= $chunk;
    }

    my ($status) = $head =~ m{^HTTP/1\.[01] (\d{3})}
        or die "client.pl: bad status line\n";
    my $close = $head =~ /^connection:\s*close/mi ? 1 : 0;

    if ($status == 204 || $status == 304) {
        # no body
    } elsif ($head =~ /^content-length:\s*(\d+)/mi) {
        read_n(\$pending, $1);
        substr($pending, 0, $1, '');
    } elsif ($head =~ /^transfer-encoding:\s*chunked/mi) {
        for (;;) {
            my $i;
            until (($i = index($pending, "\r\n")) >= 0) {
                read_n(\$pending, length($pending) + 1);
            }
            my $line = substr($pending, 0, $i + 2, '');
            my $size = hex $line;
            read_n(\$pending, $size + 2);
            substr($pending, 0, $size + 2, '');
            if ($size == 0) {
                last;
            }
        }
    } else {
        read_n(\$pending, undef);
        $pending = '';
        $close = 1;
    }

    return ($status, $close);
}

connect_once();

for my $i (1 .. $count) {
    my ($b, $s) = ($body, $sig);

    if ($unique) {
        my $id = sprintf 'm_%08d', $i;
        $b =~ s/"mem_abc123"/"$id"/;
        $s = hmac_sha256_hex($b, $secret);
    }

    my $req = "POST $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            . "Content-Type: application/json\r\n"
            . "Teachfloor-Signature: $s\r\n"
            . 'Content-Length: ' . length($b) . "\r\n\r\n" . $b;

    my ($status, $close);
    for my $try (1, 2) {
        my ($off, $ok) = (0, 1);
        while ($off < length $req) {
            my $w = syswrite($sock, $req, length($req) - $off, $off);
            if (!defined $w) {
                $ok = 0;
                last;
            }
            $off += $w;
        }
        ($status, $close) = $ok ? read_response() : (undef, 1);
        last if defined $status;
        # the server closed an idle keep-alive connection: once more
        $pending = '';
        connect_once();
    }
    die "client.pl: no answer to request $i\n" unless defined $status;

    $seen{$status}++;

    if ($close) {
        $pending = '';
        connect_once() if $i < $count;
    }
}

close $sock;

print join(' ', map { "$_=$seen{$_}" } sort keys %seen), "\n";

exit((defined $expect && (keys %seen != 1 || !$seen{$expect})) ? 1 : 0);
