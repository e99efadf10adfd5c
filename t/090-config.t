# vim:set ft= ts=4 sw=4 et fdm=marker:
# Configurations that would skip the gate or could never pass it: nested
# locations without a content handler, "return" and "rewrite" before the
# gate, impossible signature header names; and $teachfloor_* read before
# the gate's verdict.

use FindBin;
use lib "$FindBin::Bin/inc";
use Test::Nginx::Socket 'no_plan';
use TeachfloorTest;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $member = sample('member-joined');
our $course = sample('course-join-typed');

sub fwd { "upstream: POST $_[0]\nsignature: " . sig($_[1]) . "\n" . $_[1] }

our $invalid = qq{{"result":"invalid_signature"}\n};

# two apps that say which one got what
our $AppsConfig = $UpstreamConfig . <<'_EOC_';
    server {
        listen unix:$TEST_NGINX_HTML_DIR/courses.sock;
        location / {
            echo_read_request_body;
            echo "courses app got $request_uri";
            echo_request_body;
        }
    }
    server {
        listen unix:$TEST_NGINX_HTML_DIR/members.sock;
        location / {
            echo_read_request_body;
            echo "members app got $request_uri";
            echo_request_body;
        }
    }
    upstream courses { server unix:$TEST_NGINX_HTML_DIR/courses.sock; }
    upstream members { server unix:$TEST_NGINX_HTML_DIR/members.sock; }
_EOC_

# "--- request eval" may give a list of requests: each body is correctly
# signed unless more_headers says otherwise
add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->http_config) {
        $block->set_value('http_config', $UpstreamConfig);
    }
    sign_requests($block);
});

no_long_string();
run_tests();

__DATA__

=== TEST 1: a nested location that inherits the gate but has no content handler fails nginx -t, naming it, the gate and the fix
--- config
    location /hooks/ {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;

        location /hooks/v2/ {
        }
    }
--- must_die
--- error_log eval
qr/location "\/hooks\/v2\/" inherits the gate of "teachfloor_webhook" in \S+nginx\.conf:\d+ but not its content handler, so accepted events would end in a 404: give it its own "proxy_pass" \(or the like\), or "teachfloor_webhook off"/



=== TEST 2: a nested location with its own proxy_pass is a gate with the inherited secret, and forwards
--- config
    location /hooks/ {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;

        location /hooks/v2/ {
            proxy_pass     http://app/v2/;
        }
    }
--- request eval
["POST /hooks/v2/x\n" . $::member, "POST /hooks/v2/x\n" . $::member]
--- more_headers eval
[::signed($::member), ::signed($::member, 'whsec_wrong')]
--- error_code eval
[200, 401]
--- response_body eval
[::fwd('/v2/x', $::member), $::invalid]



=== TEST 3: a nested location with "teachfloor_webhook off" needs no content handler, and is not gated
--- config
    location /hooks/ {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;

        location /hooks/static/ {
            teachfloor_webhook off;
            return 200 "static\n";
        }
    }
--- request eval
["POST /hooks/static/x\n" . $::member, "POST /hooks/x\n" . $::member]
--- more_headers eval
["", ::signed($::member, 'whsec_wrong')]
--- error_code eval
[200, 401]
--- response_body eval
["static\n", $::invalid]



=== TEST 4: an "if" block runs with the content handler of its location: forged refused, genuine forwarded
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        if ($request_method = POST) {
            set $posted 1;
        }
        proxy_pass         http://app/received;
    }
--- request eval
["POST /wh\n" . $::member, "POST /wh\n" . $::member]
--- more_headers eval
[::signed($::member), ::signed($::member, 'whsec_wrong')]
--- error_code eval
[200, 401]
--- response_body eval
[::fwd('/received', $::member), $::invalid]



=== TEST 5: a "limit_except" block in a gate is accepted and the gate still runs
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        limit_except POST {
            deny all;
        }
        proxy_pass         http://app/received;
    }
--- request eval
["POST /wh\n" . $::member, "POST /wh\n" . $::member]
--- more_headers eval
[::signed($::member), ::signed($::member, 'whsec_wrong')]
--- error_code eval
[200, 401]
--- response_body eval
[::fwd('/received', $::member), $::invalid]



=== TEST 6: an unconditional "return 200" in a gate fails nginx -t
--- config
    location = /r {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        return 200 "ok";
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/"return 200" in location "\/r" answers before the gate of "teachfloor_webhook" in \S+nginx\.conf:\d+ has verified anything: remove it, or put it in an "if" with a status that is not 2xx/



=== TEST 7: an unconditional "return" fails nginx -t whatever its status
--- config
    location = /r {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
        return 403;
    }
--- must_die
--- error_log eval
qr/"return 403" in location "\/r" answers before the gate/



=== TEST 8: a 2xx "return" inside an "if" fails nginx -t
--- config
    location = /r {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        if ($http_user_agent ~ Teachfloor) {
            return 204;
        }
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/"return 204" in an "if" of location "\/r" acknowledges requests before the gate of "teachfloor_webhook" in \S+nginx\.conf:\d+ has verified them: use a status that is not 2xx, or remove it/



=== TEST 9: "rewrite ... last" in a gate fails nginx -t, naming the rewrite
--- config
    location = /r {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        rewrite ^/r$ /elsewhere last;
        proxy_pass         http://app/received;
    }
    location = /elsewhere {
        return 200 "not gated\n";
    }
--- must_die
--- error_log eval
qr/"rewrite \^\/r\$" in location "\/r" runs before the gate of "teachfloor_webhook" in \S+nginx\.conf:\d+ and sends the request elsewhere unverified \(another location, or a redirect\): give it the "break" flag and a replacement that is no URL, or rewrite in front of the gate/



=== TEST 10: "rewrite ... redirect" inside an "if" fails nginx -t
--- config
    location = /r {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        if ($http_x_old) {
            rewrite ^ /new redirect;
        }
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/"rewrite \^" in location "\/r" runs before the gate/



=== TEST 11: a "rewrite" without a flag (the URI changes, so nginx looks for a location again) fails nginx -t
--- config
    location /r {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        rewrite ^/r(.*)$ /elsewhere$1;
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/"rewrite \^\/r\(\.\*\)\$" in location "\/r" runs before the gate/



=== TEST 12: allowed in a gate: "set", "rewrite ... break", an "if" with a regex test, a non-2xx "return" in an "if"; forged refused, genuine forwarded (to the rewritten URI)
--- config
    location /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        set $hook teachfloor;
        if ($http_user_agent ~* ^curl) {
            set $hook curl;
        }
        if ($http_x_forwarded_proto = http) {
            return 403;
        }
        rewrite ^/wh(.*)$ /rewritten$1 break;
        proxy_pass         http://app;
    }
--- request eval
["POST /wh/a\n" . $::member, "POST /wh/a\n" . $::member, "POST /wh/a\n" . $::member]
--- more_headers eval
[::signed($::member), ::signed($::member, 'whsec_wrong'), "X-Forwarded-Proto: http\n" . ::signed($::member)]
--- error_code eval
[200, 401, 403]
--- response_body_like eval
[quotemeta(::fwd('/rewritten/a', $::member)), quotemeta($::invalid), '403 Forbidden']



=== TEST 13: an empty teachfloor_signature_header fails nginx -t
--- config
    location = /wh {
        teachfloor_webhook          on;
        teachfloor_secret           whsec_test;
        teachfloor_signature_header "";
        proxy_pass                  http://app/received;
    }
--- must_die
--- error_log eval
qr/"teachfloor_signature_header" directive is empty/



=== TEST 14: a signature header name with a character nginx never keeps fails nginx -t
--- config
    location = /wh {
        teachfloor_webhook          on;
        teachfloor_secret           whsec_test;
        teachfloor_signature_header "X-Sig.v1";
        proxy_pass                  http://app/received;
    }
--- must_die
--- error_log eval
qr/invalid header name "X-Sig\.v1": nginx passes on only request headers named with letters, digits, "-" and "_", so no signature could ever be found in \S+nginx\.conf:\d+/



=== TEST 15: a signature header with "_" and underscores_in_headers off: a warning at startup naming the line and the fix (and indeed no event could pass)
--- config
    teachfloor_signature_header Teachfloor_Signature;
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- request eval
"POST /wh\n" . $::member
--- more_headers eval
"Teachfloor_Signature: " . ::sig($::member)
--- error_code: 401
--- response_body
{"result":"missing_signature"}
--- error_log eval
qr/\[warn\] .*"teachfloor_signature_header Teachfloor_Signature" in \S+nginx\.conf:\d+: nginx ignores request headers with "_" in their names unless "underscores_in_headers on", so every event to location "\/wh" would be refused as missing_signature: set "underscores_in_headers on" in its server, or name a header without "_"/



=== TEST 16: with underscores_in_headers on, a signature header with "_" works end to end, without the warning (the upstream's own server ignores that header)
--- config
    underscores_in_headers on;
    location = /wh {
        teachfloor_webhook          on;
        teachfloor_secret           whsec_test;
        teachfloor_signature_header Teachfloor_Signature;
        proxy_pass                  http://app/received;
    }
--- request eval
["POST /wh\n" . $::member, "POST /wh\n" . $::member]
--- more_headers eval
["Teachfloor_Signature: " . ::sig($::member), "Teachfloor_Signature: " . ::sig($::member, 'whsec_wrong')]
--- error_code eval
[200, 401]
--- response_body eval
["upstream: POST /received\nsignature: \n" . $::member, $::invalid]
--- no_error_log
ignores request headers



=== TEST 17: a map over $teachfloor_event read by "if" in the rewrite phase: one warning for the location (though "set" reads another variable early too), and the early, empty value sticks
--- http_config eval
$::AppsConfig . q{
    map $teachfloor_event $route {
        ~^course\.  courses;
        default     members;
    }
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        if ($route = none) {
            return 404;
        }
        set $early_id      $teachfloor_event_id;
        proxy_pass         http://$route/hook;
    }
--- request eval
"POST /wh\n" . $::course
--- more_headers eval
::signed($::course)
--- error_code: 200
--- response_body eval
"members app got /hook\n" . $::course
--- grep_error_log eval
qr/"\$teachfloor_\w+" read in location "\/wh" before the teachfloor gate's verdict/
--- grep_error_log_out eval
qq{"\$teachfloor_event" read in location "/wh" before the teachfloor gate's verdict\n}
--- error_log eval
qr/\[warn\] .*"\$teachfloor_event" read in location "\/wh" before the teachfloor gate's verdict \(by "set", "if" or a "map" they read in the rewrite phase, say\): it is empty there, and a "map" over it keeps that value for the whole request; make the map "volatile", or read it only after the gate/



=== TEST 18: a volatile map read in the rewrite phase still routes by the verified event: member.joined to one app, course.join to the other
--- http_config eval
$::AppsConfig . q{
    map $teachfloor_event $route {
        volatile;
        ~^course\.  courses;
        default     members;
    }
}
--- config
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        if ($route = none) {
            return 404;
        }
        proxy_pass         http://$route/hook;
    }
--- request eval
["POST /wh\n" . $::member, "POST /wh\n" . $::course]
--- error_code eval
[200, 200]
--- response_body eval
["members app got /hook\n" . $::member, "courses app got /hook\n" . $::course]



=== TEST 19: no warning for reads after the verdict (proxy_set_header, the access log) nor for a request refused before the gate (add_header, the access log)
--- http_config eval
$::UpstreamConfig . q{
    log_format tf '$status $teachfloor_result $teachfloor_event';
}
--- config
    access_log logs/tf.log tf;
    location = /wh {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_set_header   X-Event $teachfloor_event;
        proxy_pass         http://unix:$TEST_NGINX_HTML_DIR/upstream.sock:/received;
    }
    location = /denied {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        deny               all;
        add_header         X-Result "$teachfloor_result" always;
        proxy_pass         http://app/received;
    }
--- request eval
["POST /wh\n" . $::member, "POST /wh\n" . $::member, "POST /denied\n" . $::member]
--- more_headers eval
[::signed($::member), ::signed($::member, 'whsec_wrong'), ::signed($::member)]
--- error_code eval
[200, 401, 403]
--- response_body_like eval
[quotemeta(::fwd('/received', $::member)), quotemeta($::invalid), '403 Forbidden']
--- no_error_log
before the teachfloor gate



=== TEST 20: "rewrite ... break" to a URL is a redirect all the same: nginx -t fails
--- config
    location /hooks {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        rewrite ^ $scheme://elsewhere.example/hook break;
        proxy_pass         http://app/received;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"rewrite \^" in location "\/hooks" runs before the gate of "teachfloor_webhook" in \S+nginx\.conf:\d+ and sends the request elsewhere unverified/



=== TEST 21: a server-level rewrite runs before every gate of the server: a warning
--- config
    rewrite ^/hooks$ /inner last;
    location /hooks {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
    location = /inner {
        internal;
        proxy_pass http://app/received;
    }
--- request
GET /nothing
--- error_code: 404
--- error_log eval
qr/\[warn\] .*the server of location "\/hooks" has a server-level "rewrite" that runs before its gate \("teachfloor_webhook" in \S+nginx\.conf:\d+\) and could answer or move webhooks unverified/



=== TEST 22: a server-level "if" that refuses (444) is no warning
--- config
    if ($http_x_bad) {
        return 444;
    }
    location /hooks {
        teachfloor_webhook on;
        teachfloor_secret  whsec_test;
        proxy_pass         http://app/received;
    }
--- request
GET /nothing
--- error_code: 404
--- no_error_log
could answer or move webhooks
