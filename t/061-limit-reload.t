# vim:set ft= ts=4 sw=4 et fdm=marker:
# Rate limits across nginx -s reload (HUP between blocks): budgets survive,
# and the log lines of refusals, dry runs and delays, one request a block
# (error_log is checked after each request of a block).

our $SkipReason;

BEGIN {
    if ($ENV{TEST_NGINX_CHECK_LEAK}) {
        $SkipReason = "unavailable for the hup tests";

    } else {
        $ENV{TEST_NGINX_USE_HUP} = 1;
    }
}

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket $SkipReason ? (skip_all => $SkipReason) : ('no_plan');
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

master_on();
no_shuffle();

sub ev {
    my ($org) = @_;
    return qq{{"event":"member.joined","timestamp":"2025-10-07T15:30:00Z","data":{"organization":{"id":"$org"}}}};
}

our $HttpConfig = $UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=1r/m;
    teachfloor_limit_zone $teachfloor_organization_id zone=slow:1m rate=30r/m;
};

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->http_config) {
        $block->set_value('http_config', $HttpConfig);
    }
    if (defined $block->request && !defined $block->more_headers) {
        (my $body = $block->request) =~ s/^[^\n]*\n//;
        $block->set_value('more_headers', TeachfloorTest::signed($body));
    }
});

# a dry-run gate and an enforcing one on the same zone
our $Dry = q{
    location = /dry {
        teachfloor_webhook       on;
        teachfloor_secret        whsec_test;
        teachfloor_limit         zone=orgs burst=1;
        teachfloor_limit_dry_run on;
        proxy_pass               http://app/received;
    }
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs burst=1 nodelay;
        proxy_pass         http://app/received;
    }
};

no_long_string();
run_tests();

__DATA__

=== TEST 1: before the reload: tenant A spends its budget
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('org_reload')
--- error_code: 200
--- response_body_like: ^upstream: POST



=== TEST 2: after nginx -s reload the budget is still spent: refused, and logged with zone and key
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('org_reload')
--- error_code: 429
--- response_body
{"result":"rate_limited"}
--- error_log
teachfloor webhook rate_limited, event "member.joined", zone "orgs", key "org_reload"



=== TEST 3: dry run: over the limit, logged, forwarded
--- config
    location = /wh {
        teachfloor_webhook       on;
        teachfloor_secret        whsec_test;
        teachfloor_limit         zone=orgs;
        teachfloor_limit_dry_run on;
        proxy_pass               http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('org_reload')
--- error_code: 200
--- response_body_like: ^upstream: POST
--- error_log
teachfloor webhook rate_limited (dry run, forwarded), event "member.joined", zone "orgs", key "org_reload"



=== TEST 4: a binary key is logged escaped
--- http_config eval
$::HttpConfig . q{
    teachfloor_limit_zone $binary_remote_addr zone=peers:1m rate=1r/m;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=peers;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('org_x')
--- error_code: 200
--- response_body_like: ^upstream: POST



=== TEST 5: ... the second event from 127.0.0.1 is refused; its key shows as %7F%00%00%01
--- http_config eval
$::HttpConfig . q{
    teachfloor_limit_zone $binary_remote_addr zone=peers:1m rate=1r/m;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=peers;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('org_x')
--- error_code: 429
--- response_body
{"result":"rate_limited"}
--- error_log
teachfloor webhook rate_limited, event "member.joined", zone "peers", key "%7F%00%00%01"



=== TEST 6: delay: a first event of tenant B passes at once
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=slow burst=1;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('org_b')
--- error_code: 200
--- no_error_log
delayed by



=== TEST 7: ... the second, within its burst, waits (a timer, up to 2 s at 30r/m) and is delivered
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=slow burst=1;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('org_b')
--- error_code: 200
--- response_body_like: ^upstream: POST
--- error_log eval
qr/\[info\] .*teachfloor webhook delayed by \d+ ms, event "member\.joined", zone "slow", key "org_b"/



=== TEST 8: a reload with a new rate keeps every budget: tenant A, refused before, is still refused
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:1m rate=2r/m;
    teachfloor_limit_zone $teachfloor_organization_id zone=slow:1m rate=30r/m;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('org_reload')
--- error_code: 429
--- response_body
{"result":"rate_limited"}
--- error_log
teachfloor webhook rate_limited, event "member.joined", zone "orgs", key "org_reload"
--- no_error_log
[alert]
[crit]



=== TEST 9: a reload with a new zone size starts an empty zone: tenant A has its budget again
--- http_config eval
$::UpstreamConfig . q{
    teachfloor_limit_zone $teachfloor_organization_id zone=orgs:2m rate=2r/m;
    teachfloor_limit_zone $teachfloor_organization_id zone=slow:1m rate=30r/m;
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_limit   zone=orgs;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . ::ev('org_reload')
--- error_code: 200
--- response_body_like: ^upstream: POST
--- no_error_log
[alert]
[crit]



=== TEST 10: dry run charges what it lets through: a first event of tenant D is forwarded, nothing logged
--- config eval
$::Dry
--- request eval
"POST /dry\n" . ::ev('org_dry')
--- error_code: 200
--- response_body_like: ^upstream: POST
--- no_error_log
dry run



=== TEST 11: ... the second fits the burst but would wait about 60 s: forwarded at once, the delay logged, not applied
--- config eval
$::Dry
--- request eval
"POST /dry\n" . ::ev('org_dry')
--- timeout: 10
--- error_code: 200
--- response_body_like: ^upstream: POST
--- error_log eval
qr/\[info\] .*teachfloor webhook delayed by \d+ ms \(dry run, not applied\), event "member\.joined", zone "orgs", key "org_dry"/



=== TEST 12: ... the third is over the burst: forwarded, logged at teachfloor_log_level with zone and key, not charged
--- config eval
$::Dry
--- request eval
"POST /dry\n" . ::ev('org_dry')
--- error_code: 200
--- response_body_like: ^upstream: POST
--- error_log eval
qr/\[error\] .*teachfloor webhook rate_limited \(dry run, forwarded\), event "member\.joined", zone "orgs", key "org_dry"/
--- no_error_log
delayed by



=== TEST 13: ... an enforcing gate on the same zone finds tenant D's budget spent by the dry run: refused
--- config eval
$::Dry
--- request eval
"POST /wh\n" . ::ev('org_dry')
--- error_code: 429
--- response_body
{"result":"rate_limited"}
--- error_log
teachfloor webhook rate_limited, event "member.joined", zone "orgs", key "org_dry"
