#!/usr/bin/perl
# How long the dedupe zone keeps an event once it is full, by simulation:
# buckets of WAYS places, each event to a random bucket, a full bucket
# giving the place filled longest ago to the new event (as the module's
# table does).  Prints, for an event, the number of new events it is kept
# for, as a share of the zone's places: the 0.1 % and 1 % quantiles and
# the median.  The module's 56 against fewer ways, and a global LRU
# (which keeps every event for exactly 1.0).
#
#   perl bench/retention.pl [PLACES] [ROUNDS]     (28224: a 1 MB zone; 12)

use strict;
use warnings;

my $places = shift // 28224;
my $rounds = shift // 12;

srand(1);

for my $ways (8, 14, 28, 56) {
    my $buckets = int($places / $ways);
    my $cap = $buckets * $ways;
    my (@slot, @used, @hand, @kept);

    for my $e (0 .. $rounds * $cap - 1) {
        my $b = int(rand($buckets));
        my $i;

        if (($used[$b] // 0) < $ways) {
            $i = $used[$b]++;

        } else {
            $i = $hand[$b] // 0;
            $hand[$b] = ($i + 1) % $ways;
            # past the first rounds: the zone is in its steady state
            push @kept, ($e - $slot[$b][$i]) / $cap if $e > 3 * $cap;
        }

        $slot[$b][$i] = $e;
    }

    @kept = sort { $a <=> $b } @kept;
    printf "%2d ways, %5d buckets: kept for 0.1 %% %.2f, 1 %% %.2f, median %.2f of %d places\n",
        $ways, $buckets, $kept[@kept / 1000], $kept[@kept / 100], $kept[@kept / 2], $cap;
}
