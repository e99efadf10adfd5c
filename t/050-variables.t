# vim:set ft= ts=4 sw=4 et fdm=marker:
# $teachfloor_* variables: in proxy_set_header, map, proxy_pass and the
# access log; empty until the signature has passed.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $typed = sample('course-join-typed');
our $member = sample('member-joined');
our $test = sample('test-event');
our $numeric = '{"event":"member.joined","timestamp":"2025-10-07T15:30:00+02:00","data":{"organization":{"id":4711}}}';

# longer than the context keeps inline (128 bytes in all)
our $long_event = 'member.' . ('j' x 120);
our $long_id = 'evt_' . ('9' x 60);
our $long_org = 'org_' . ('z' x 40);
our $long = qq{{"event":"$long_event","id":"$long_id","timestamp":"2025-10-07T15:30:00Z","data":{"organization":{"id":"$long_org"}}}};

our $VarsConfig = <<'_EOC_';
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_set_header   X-TF-Event  $teachfloor_event;
        proxy_set_header   X-TF-Id     $teachfloor_event_id;
        proxy_set_header   X-TF-Time   $teachfloor_timestamp;
        proxy_set_header   X-TF-Org    $teachfloor_organization_id;
        proxy_set_header   X-TF-Test   $teachfloor_test;
        proxy_set_header   X-TF-Result $teachfloor_result;
        proxy_pass         http://unix:$TEST_NGINX_HTML_DIR/vars.sock:/;
    }
_EOC_

our $VarsUpstream = <<'_EOC_';
    server {
        listen unix:$TEST_NGINX_HTML_DIR/vars.sock;
        location / {
            return 200 "event=$http_x_tf_event id=$http_x_tf_id time=$http_x_tf_time org=$http_x_tf_org test=$http_x_tf_test result=$http_x_tf_result\n";
        }
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->http_config) {
        $block->set_value('http_config', $UpstreamConfig . $VarsUpstream);
    }
    if (!defined $block->config) {
        $block->set_value('config', $VarsConfig);
    }
    if (defined $block->request && !defined $block->more_headers) {
        (my $body = $block->request) =~ s/^[^\n]*\n//;
        $block->set_value('more_headers', TeachfloorTest::signed($body));
    }
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: event/timestamp shape: each variable reaches the upstream
--- request eval
"POST /wh\n" . $::member
--- error_code: 200
--- response_body
event=member.joined id= time=2025-10-07T15:30:00Z org=org_123 test=0 result=accepted



=== TEST 2: id/type/created_at shape: each variable reaches the upstream
--- request eval
"POST /wh\n" . $::typed
--- error_code: 200
--- response_body
event=course.join id=evt_abc123 time=2025-10-07T15:30:00.000000Z org=acme-corp test=0 result=accepted



=== TEST 3: a test event: $teachfloor_test is 1
--- request eval
"POST /wh\n" . $::test
--- error_code: 200
--- response_body
event=test.event id= time=2025-10-07T15:30:00Z org= test=1 result=accepted



=== TEST 4: a numeric organization id is given in decimal, the time as sent
--- request eval
"POST /wh\n" . $::numeric
--- error_code: 200
--- response_body
event=member.joined id= time=2025-10-07T15:30:00+02:00 org=4711 test=0 result=accepted



=== TEST 5: routing: map $teachfloor_event picks the upstream in proxy_pass
--- http_config eval
$::UpstreamConfig . <<'_EOC_';
    server {
        listen unix:$TEST_NGINX_HTML_DIR/courses.sock;
        location / { return 200 "courses app got $request_uri\n"; }
    }
    server {
        listen unix:$TEST_NGINX_HTML_DIR/members.sock;
        location / { return 200 "members app got $request_uri\n"; }
    }
    upstream courses { server unix:$TEST_NGINX_HTML_DIR/courses.sock; }
    upstream members { server unix:$TEST_NGINX_HTML_DIR/members.sock; }

    map $teachfloor_event $route {
        ~^course\.  courses;
        ~^member\.  members;
        default     members;
    }
_EOC_
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  course.* member.*;
        proxy_pass         http://$route/hook;
    }
--- pipelined_requests eval
["POST /wh\n" . $::typed, "POST /wh\n" . $::typed]
--- more_headers eval
::signed($::typed)
--- error_code eval
[200, 200]
--- response_body eval
["courses app got /hook\n", "courses app got /hook\n"]



=== TEST 6: routing: a member event goes to the other upstream
--- http_config eval
$::UpstreamConfig . <<'_EOC_';
    server {
        listen unix:$TEST_NGINX_HTML_DIR/courses.sock;
        location / { return 200 "courses app got $request_uri\n"; }
    }
    server {
        listen unix:$TEST_NGINX_HTML_DIR/members.sock;
        location / { return 200 "members app got $request_uri\n"; }
    }
    upstream courses { server unix:$TEST_NGINX_HTML_DIR/courses.sock; }
    upstream members { server unix:$TEST_NGINX_HTML_DIR/members.sock; }

    map $teachfloor_event $route {
        ~^course\.  courses;
        ~^member\.  members;
        default     members;
    }
_EOC_
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  course.* member.*;
        proxy_pass         http://$route/hook;
    }
--- request eval
"POST /wh\n" . $::member
--- error_code: 200
--- response_body
members app got /hook



=== TEST 7: $teachfloor_result and $teachfloor_event in the access log: accepted, filtered, rejected, and not a gate
--- http_config eval
$::UpstreamConfig . <<'_EOC_';
    log_format teachfloor '$request_uri result=$teachfloor_result event=$teachfloor_event';
_EOC_
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        access_log         $TEST_NGINX_HTML_DIR/tf.log teachfloor;
        proxy_pass         http://app/received;
    }
    location = /filtered {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        teachfloor_events  course.*;
        access_log         $TEST_NGINX_HTML_DIR/tf.log teachfloor;
        proxy_pass         http://app/received;
    }
    location = /forged {
        teachfloor_webhook on;
        teachfloor_secret  whsec_other;
        access_log         $TEST_NGINX_HTML_DIR/tf.log teachfloor;
        proxy_pass         http://app/received;
    }
    location = /plain {
        access_log         $TEST_NGINX_HTML_DIR/tf.log teachfloor;
        return 200 "plain\n";
    }
    location = /log {
        access_log off;
        alias $TEST_NGINX_HTML_DIR/tf.log;
    }
--- pipelined_requests eval
["POST /wh\n" . $::member, "POST /filtered\n" . $::member, "POST /forged\n" . $::member,
 "POST /plain\n" . $::member, "GET /log"]
--- more_headers eval
::signed($::member)
--- error_code eval
[200, 200, 401, 200, 200]
--- response_body eval
[qq{upstream: POST /received\nsignature: } . ::sig($::member) . "\n" . $::member,
 qq{{"result":"filtered"}\n}, qq{{"result":"invalid_signature"}\n}, "plain\n",
 "/wh result=accepted event=member.joined\n"
 . "/filtered result=filtered event=member.joined\n"
 . "/forged result=invalid_signature event=-\n"
 . "/plain result=- event=-\n"]



=== TEST 8: variables are empty for a forged request, even one whose body names an event
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        add_header X-Event "[$teachfloor_event]" always;
        add_header X-Test "[$teachfloor_test]" always;
        add_header X-Result "[$teachfloor_result]" always;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . $::member
--- more_headers eval
::signed($::member, 'whsec_wrong')
--- error_code: 401
--- response_headers
X-Event: []
X-Test: []
X-Result: [invalid_signature]



=== TEST 9: variables read before the verdict do not pin an empty value
--- config
    location = /wh {
        set $early "[$teachfloor_event]";
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_set_header   X-TF-Event $teachfloor_event;
        proxy_set_header   X-TF-Result $early;
        proxy_pass         http://unix:$TEST_NGINX_HTML_DIR/vars.sock:/;
    }
--- request eval
"POST /wh\n" . $::member
--- error_code: 200
--- response_body
event=member.joined id= time= org= test= result=[]



=== TEST 10: after an internal redirect (error_page), the access log still sees the verdict
--- http_config eval
$::UpstreamConfig . <<'_EOC_';
    log_format teachfloor '$request_uri result=$teachfloor_result event=$teachfloor_event';
    server {
        listen unix:$TEST_NGINX_HTML_DIR/failing.sock;
        location / { return 502; }
    }
_EOC_
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        access_log         $TEST_NGINX_HTML_DIR/tf.log teachfloor;
        proxy_intercept_errors on;
        error_page 502 = /fallback;
        proxy_pass         http://unix:$TEST_NGINX_HTML_DIR/failing.sock:/;
    }
    location = /fallback {
        access_log         $TEST_NGINX_HTML_DIR/tf.log teachfloor;
        return 503 "fallback\n";
    }
    location = /log {
        access_log off;
        alias $TEST_NGINX_HTML_DIR/tf.log;
    }
--- pipelined_requests eval
["POST /wh\n" . $::member, "GET /log"]
--- more_headers eval
::signed($::member)
--- error_code eval
[503, 200]
--- response_body eval
["fallback\n", "/wh result=accepted event=member.joined\n"]



=== TEST 11: envelope strings longer than the context keeps inline reach the upstream whole
--- request eval
"POST /wh\n" . $::long
--- error_code: 200
--- response_body eval
"event=$::long_event id=$::long_id time=2025-10-07T15:30:00Z org=$::long_org test=0 result=accepted\n"
