package TeachfloorTest;

# Helpers shared by the t/*.t files: fixture bodies, signatures computed the
# way Teachfloor computes them, and the upstream the gate forwards to.

use strict;
use warnings;

use Exporter 'import';
use FindBin;
use Digest::SHA qw(hmac_sha256_hex);

our @EXPORT = qw(sample sig signed sign_requests real_runner_lacks_http2
                 $UpstreamConfig $SECRET);

our $SECRET = 'whsec_test';

my $samples = "$FindBin::Bin/fixtures/samples";

# a sample payload, byte for byte as Teachfloor sends it
sub sample {
    my ($name) = @_;
    open my $fh, '<:raw', "$samples/$name.json" or die "$samples/$name.json: $!";
    local $/;
    my $body = <$fh>;
    close $fh;
    return $body;
}

# the Teachfloor-Signature value of a body
sub sig {
    my ($body, $secret) = @_;
    return hmac_sha256_hex($body, defined $secret ? $secret : $SECRET);
}

sub signed {
    my ($body, $secret) = @_;
    return "Teachfloor-Signature: " . sig($body, $secret);
}

# For a block whose "--- request eval" is a list of requests and that has no
# more_headers: each body signed correctly, for the request that sends it.
sub sign_requests {
    my ($block) = @_;
    if (ref $block->request eq 'ARRAY' && !defined $block->more_headers) {
        my @h = map { (my $b = $_) =~ s/^[^\n]*\n//; signed($b) }
                @{ $block->request };
        $block->set_value('more_headers', \@h);
    }
}

# For "--- skip_eval: N: ::real_runner_lacks_http2()" in --- http2 blocks.
# The real Test::Nginx turns --- http2 into "http2 on;" for any nginx newer
# than 1.19.9, a directive nginx has only from 1.25.1, so from 1.19.9 to
# 1.25.0 such a block cannot start nginx under it.  Our runner in t/lib
# writes "listen ... http2", which those versions know: there the block
# runs (the function is false, as it is on the real one's own nginx).
my $said_http2;

sub real_runner_lacks_http2 {
    return 0 unless defined &Test::Nginx::Util::get_nginx_version;
    my $v = $Test::Nginx::Util::NginxVersion;
    return 0 unless defined $v && $v >= 1.019009 && $v < 1.025001;
    Test::More::diag("$0: --- http2 blocks skipped: the real Test::Nginx "
        . "writes \"http2 on;\" for them, which nginx "
        . "$Test::Nginx::Util::NginxRawVersion does not know (1.25.1 and "
        . "later do)") unless $said_http2++;
    return 1;
}

# A real upstream, in the same nginx on a unix socket: it answers with what
# it received, so a test sees exactly what the gate forwarded.
our $UpstreamConfig = <<'_EOC_';
    server {
        listen unix:$TEST_NGINX_HTML_DIR/upstream.sock;

        location / {
            echo_read_request_body;
            echo "upstream: $request_method $request_uri";
            echo "signature: $http_teachfloor_signature";
            echo_request_body;
        }
    }

    upstream app {
        server unix:$TEST_NGINX_HTML_DIR/upstream.sock;
    }
_EOC_

1;
