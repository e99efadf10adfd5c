#!/usr/bin/perl
# Where the module's instructions per request go, from scripts/bench's
# callgrind runs: per function and per object, the slope between the runs of
# N1 and N2 requests (start-up cancels), module against bare proxy_pass.
#
#   breakdown.pl N1 N2 MODULE_N1.out MODULE_N2.out BARE_N1.out BARE_N2.out

use strict;
use warnings;

my ($n1, $n2, $m1, $m2, $b1, $b2) = @ARGV;
die "usage: breakdown.pl N1 N2 MODULE_N1 MODULE_N2 BARE_N1 BARE_N2\n"
    unless defined $b2;

my $dn = $n2 - $n1;

# callgrind_annotate writes source paths under the current directory
# relative to it, and then leaves out some entries' object: run it from the
# directory of the outputs, which holds no sources
use Cwd qw(abs_path);
use File::Basename qw(dirname);
($m1, $m2, $b1, $b2) = map { abs_path($_) } $m1, $m2, $b1, $b2;
chdir dirname($m1) or die "breakdown.pl: chdir: $!\n";

# function => Ir, from callgrind_annotate (inclusive or self)
sub annotate {
    my ($file, $inclusive) = @_;
    my %cost;
    open my $fh, '-|', 'callgrind_annotate', "--inclusive=$inclusive",
        '--threshold=100', '--auto=no', $file
        or die "callgrind_annotate: $!\n";
    while (<$fh>) {
        next unless /^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)\s*$/;
        my ($ir, $what) = ($1, $2);
        next if $what eq 'PROGRAM TOTALS';
        $ir =~ tr/,//d;
        $what =~ s/^[^:\[]*://;          # the file ("???:")
        next unless $what =~ /\]\s*\z/;   # duplicates without an object
        $cost{$what} += $ir;
    }
    close $fh;
    return \%cost;
}

sub slope {
    my ($a, $b) = @_;
    my %s;
    for my $k (keys %$a, keys %$b) {
        $s{$k} = (($b->{$k} // 0) - ($a->{$k} // 0)) / $dn;
    }
    return \%s;
}

sub obj {
    my ($k) = @_;
    return $k =~ /\[(?:.*\/)?([^\/\]]+)\]\s*$/ ? $1 : '?';
}

sub fn {
    my ($k) = @_;
    $k =~ s/\s*\[[^\]]*\]\s*$//;
    return $k;
}

sub fmt { my $x = sprintf '%.0f', shift; 1 while $x =~ s/^(-?\d+)(\d{3})/$1,$2/; $x }

# "FUNC <- CALLER" => calls, from callgrind_annotate --tree=caller
sub calls {
    my ($file) = @_;
    my (%calls, @callers);
    open my $fh, '-|', 'callgrind_annotate', '--tree=caller',
        '--inclusive=yes', '--threshold=100', '--auto=no', $file
        or die "callgrind_annotate: $!\n";
    while (<$fh>) {
        if (/^\s*$/) {
            @callers = ();
        } elsif (/<\s+(\S+)\s+\(([\d,]+)x\)/) {
            my ($c, $n) = ($1, $2);
            $n =~ tr/,//d;
            $c =~ s/^[^:]*://;
            push @callers, [$c, $n];
        } elsif (/\*\s+(\S+)/) {
            my $f = $1;
            $f =~ s/^[^:]*://;
            $calls{"$f <- $_->[0]"} += $_->[1] for @callers;
            @callers = ();
        }
    }
    close $fh;
    return \%calls;
}

my $mi = slope(annotate($m1, 'yes'), annotate($m2, 'yes'));
my $ms = slope(annotate($m1, 'no'), annotate($m2, 'no'));
my $bs = slope(annotate($b1, 'no'), annotate($b2, 'no'));

my ($mt, $bt) = (0, 0);
$mt += $_ for values %$ms;
$bt += $_ for values %$bs;

printf "Instructions per request (callgrind slope, %d -> %d requests)\n", $n1, $n2;
printf "  module variant %s, bare %s, overhead %s\n\n", fmt($mt), fmt($bt), fmt($mt - $bt);

print "Inclusive cost per request in the module variant (functions of interest)\n";
my $re = qr/teachfloor|^tf_|cJSON|SHA256|sha256|HMAC|malloc|free|calloc|realloc
           |CRYPTO_memcmp|OPENSSL_cleanse|memchr|strlen|snprintf
           |ngx_palloc|ngx_pnalloc|ngx_pcalloc|ngx_read_client_request_body
           |ngx_http_read_client_request_body|ngx_http_discard|ngx_read_file
           |ngx_http_core_run_phases|ngx_http_proxy_handler/x;
my @keys = grep { fn($_) =~ $re && abs($mi->{$_}) >= 1 } keys %$mi;
for my $k (sort { $mi->{$b} <=> $mi->{$a} } @keys) {
    printf "  %10s  %s  [%s]\n", fmt($mi->{$k}), fn($k), obj($k);
}

print "\nSelf cost per request by object (module variant, bare, difference)\n";
my (%mo, %bo);
$mo{obj($_)} += $ms->{$_} for keys %$ms;
$bo{obj($_)} += $bs->{$_} for keys %$bs;
my %objs = map { $_ => 1 } keys %mo, keys %bo;
for my $o (sort { (($mo{$b} // 0) - ($bo{$b} // 0)) <=> (($mo{$a} // 0) - ($bo{$a} // 0)) } keys %objs) {
    my ($m, $b) = ($mo{$o} // 0, $bo{$o} // 0);
    next if abs($m) < 1 && abs($b) < 1;
    printf "  %10s %10s %10s  %s\n", fmt($m), fmt($b), fmt($m - $b), $o;
}

print "\nSelf cost per request, module minus bare, by function (top 40)\n";
my %d;
$d{$_} = ($ms->{$_} // 0) - ($bs->{$_} // 0) for keys %$ms, keys %$bs;
my @top = (sort { $d{$b} <=> $d{$a} } grep { abs($d{$_}) >= 1 } keys %d)[0 .. 39];
for my $k (grep { defined } @top) {
    printf "  %10s  %s  [%s]\n", fmt($d{$k}), fn($k), obj($k);
}

print "\nCalls per request: heap and pool allocations, module variant minus bare\n";
my $mc = slope(calls($m1), calls($m2));
my $bc = slope(calls($b1), calls($b2));
my %dc;
$dc{$_} = ($mc->{$_} // 0) - ($bc->{$_} // 0) for keys %$mc, keys %$bc;
my $alloc = qr/^(?:malloc|free|calloc|realloc|posix_memalign|ngx_palloc|ngx_pnalloc|ngx_pcalloc|ngx_memalign|ngx_alloc|CRYPTO_malloc|CRYPTO_zalloc|CRYPTO_free) </;
for my $k (sort { $dc{$b} <=> $dc{$a} } grep { $_ =~ $alloc && abs($dc{$_}) >= 0.01 } keys %dc) {
    printf "  %8.2f  %s\n", $dc{$k}, $k;
}

print "\nCalls per request from the module's own functions (module variant)\n";
for my $k (sort { $mc->{$b} <=> $mc->{$a} }
           grep { /<- (?:ngx_http_teachfloor_|tf_)/ && abs($mc->{$_}) >= 0.01 } keys %$mc) {
    printf "  %8.2f  %s\n", $mc->{$k}, $k;
}
