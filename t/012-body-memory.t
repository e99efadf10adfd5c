# vim:set ft= ts=4 sw=4 et fdm=marker:
# What a forged body costs the worker: a body in a temporary file is hashed
# in 16 KiB blocks and read back whole only after its signature passed.  The
# worker's peak resident memory (VmHWM) is read from /proc after the request.

our $SkipReason;

BEGIN {
    # under valgrind the peak is valgrind's, and nginx runs without workers
    $SkipReason = "the peak memory of valgrind is not the worker's"
        if $ENV{TEST_NGINX_USE_VALGRIND} || $ENV{TEST_NGINX_CHECK_LEAK};
}

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket $SkipReason ? (skip_all => $SkipReason) : ('no_plan');
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

master_on();
workers(1);

# the worker's VmHWM in KiB: the one child of the master
sub worker_hwm {
    my $pidfile = html_dir() . '/../logs/nginx.pid';
    open my $fh, '<', $pidfile or return "no pid file: $!";
    chomp(my $master = <$fh>);
    close $fh;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $s, '<', $stat or next;
        my $line = <$s>;
        close $s;
        next unless defined $line && $line =~ /\)\s+\S+\s+(\d+)/ && $1 == $master;
        (my $status = $stat) =~ s/stat$/status/;
        open my $st, '<', $status or next;
        while (<$st>) {
            return $1 if /^VmHWM:\s+(\d+) kB/;
        }
    }
    return "no worker";
}

our $Size = 48 * 1024 * 1024;

sub big_event {
    my $pad = 'x' x $_[0];
    return qq{{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{"pad":"$pad"}}};
}

our $Config = q{
    location = /wh {
        teachfloor_webhook    on;
        teachfloor_secret     whsec_test;
        teachfloor_secret     whsec_second;
        client_max_body_size  100m;
        client_body_buffer_size 16k;
        proxy_pass            http://app/received;
    }
};

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "    client_max_body_size 100m;\n" . $UpstreamConfig)
        unless defined $block->http_config;
    $block->set_value('config', $Config) unless defined $block->config;
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: a forged 48 MiB body in a temporary file is refused, and the worker's peak memory stays under 24 MiB
--- request eval
"POST /wh\n" . ::big_event($::Size)
--- more_headers
Teachfloor-Signature: 0000000000000000000000000000000000000000000000000000000000000000
--- error_code: 401
--- response_body_filters eval
sub { my $hwm = ::worker_hwm(); $hwm =~ /^\d+$/ && $hwm < 24 * 1024 ? "bounded\n" : "VmHWM $hwm kB\n" }
--- response_body
bounded
--- timeout: 30



=== TEST 2: a genuine 1 MiB body in a temporary file, hashed across many blocks, is verified and forwarded whole
--- request eval
"POST /wh\n" . ::big_event(1024 * 1024)
--- more_headers eval
TeachfloorTest::signed(::big_event(1024 * 1024), 'whsec_second')
--- error_code: 200
--- response_body_filters eval
sub { my $b = shift; my $want = "upstream: POST /received\nsignature: " . TeachfloorTest::sig(::big_event(1024 * 1024), 'whsec_second') . "\n" . ::big_event(1024 * 1024); $b eq $want ? "forwarded whole\n" : "got " . length($b) . " bytes\n" }
--- response_body
forwarded whole
--- timeout: 10
