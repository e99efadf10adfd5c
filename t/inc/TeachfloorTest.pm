package TeachfloorTest;

# Helpers shared by the t/*.t files: fixture bodies, signatures computed the
# way Teachfloor computes them, and the upstream the gate forwards to.

use strict;
use warnings;

use Exporter 'import';
use FindBin;
use Digest::SHA qw(hmac_sha256_hex);

our @EXPORT = qw(sample sig signed sign_requests $UpstreamConfig $SECRET);

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
