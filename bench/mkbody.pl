#!/usr/bin/perl
# Writes a Teachfloor event for scripts/bench to standard output.
#
#   mkbody.pl BASE.json                     the event as it is
#   mkbody.pl --size BYTES BASE.json        a valid envelope of exactly BYTES
#                                           bytes: BASE with records appended
#                                           to "data" ("attempts": [...]) and
#                                           a filler string
#   mkbody.pl --event NAME BASE.json        the event renamed
#   mkbody.pl --timestamp T BASE.json       another envelope time
#   mkbody.pl --truncate BASE.json          cut in half: not JSON
#   mkbody.pl --sign SECRET FILE            prints the hex HMAC-SHA256 of FILE

use strict;
use warnings;
use Getopt::Long;
use Digest::SHA qw(hmac_sha256_hex);

my ($size, $event, $timestamp, $truncate, $sign);

GetOptions('size=i' => \$size, 'event=s' => \$event,
           'timestamp=s' => \$timestamp, 'truncate' => \$truncate,
           'sign=s' => \$sign)
    or die "usage: mkbody.pl [--size N|--event E|--timestamp T|--truncate] BASE\n";

my $file = shift or die "mkbody.pl: no base file\n";
open my $fh, '<:raw', $file or die "mkbody.pl: $file: $!\n";
my $body = do { local $/; <$fh> };
close $fh;

binmode STDOUT;

if (defined $sign) {
    print hmac_sha256_hex($body, $sign), "\n";
    exit 0;
}

$body =~ s/\s+\z//;

$body =~ s/"event":"[^"]*"/"event":"$event"/ or die "mkbody.pl: no event\n"
    if defined $event;
$body =~ s/"timestamp":"[^"]*"/"timestamp":"$timestamp"/
    or die "mkbody.pl: no timestamp\n"
    if defined $timestamp;

if ($truncate) {
    print substr($body, 0, int(length($body) / 2));
    exit 0;
}

if (defined $size) {
    # the base ends with "}}": the data object and the envelope
    $body =~ /\}\}\z/ or die "mkbody.pl: base must end with the data object\n";
    my $head = substr($body, 0, length($body) - 2);
    my $tail = '}}';

    # "note" comes last; its string fills the remainder exactly
    my $fixed = length($head) + length(',"note":""') + length($tail);
    die "mkbody.pl: $size bytes is smaller than the base ($fixed)\n"
        if $size < $fixed;

    my @records;
    my $records_len = 0;
    my $i = 0;

    for (;;) {
        my $rec = sprintf '{"attempt":%d,"at":"2025-10-07T15:%02d:%02dZ",'
                        . '"score":%d,"status":"completed","id":"att_%06d"}',
                        $i + 1, ($i / 60) % 60, $i % 60, $i % 101, $i;
        # ',"attempts":[' + records joined by ',' + ']'
        my $add = length($rec) + ($i ? 1 : length(',"attempts":[]'));
        last if $fixed + $records_len + $add > $size - 16;
        push @records, $rec;
        $records_len += $add;
        $i++;
    }

    my $out = $head;
    $out .= ',"attempts":[' . join(',', @records) . ']' if @records;
    my $fill = $size - length($out) - length(',"note":""') - length($tail);
    $out .= ',"note":"' . ('x' x $fill) . '"' . $tail;

    die "mkbody.pl: made " . length($out) . " bytes, not $size\n"
        if length($out) != $size;

    print $out;
    exit 0;
}

print $body;
