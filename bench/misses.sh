#!/usr/bin/env bash
# Cache misses per event of the dedupe zone, counted rather than timed:
# nginx (one process) with a gate and a dedupe zone of SIZE, under
# valgrind's cachegrind with a small simulated cache (L1 32 KB, last
# level 256 KB), sent N1 and then, in a second run, N2 distinct events
# (bench/client.pl --unique); the difference between the two runs,
# divided by N2 - N1, is what an event costs once the zone is full.
# A zone far larger than the simulated cache stands for a zone far larger
# than the real one.  Takes a few minutes (valgrind runs at about 1,000
# requests a second).
#
#   bench/misses.sh [SIZE [N1 N2]]      (4m 150000 170000; 64k 5000 25000)
#
# Environment: MODULE (build/ngx_http_teachfloor_module.so), NGINX
# (/usr/sbin/nginx), PORT (61900).  Work files in build/misses/.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-4m}
n1=${2:-150000}
n2=${3:-170000}
module=${MODULE:-$root/build/ngx_http_teachfloor_module.so}
nginx=${NGINX:-/usr/sbin/nginx}
port=${PORT:-61900}
body=$root/t/fixtures/samples/element-completed.json
work=$root/build/misses

run() {  # run COUNT: prints the cachegrind summary line
    local n=$1 d=$work/$size-$1 vp i
    rm -rf "$d"
    mkdir -p "$d/logs" "$d/tmp"
    cat > "$d/nginx.conf" <<CONF
load_module $module;
worker_processes 1;
master_process off;
daemon off;
pid $d/logs/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $d/tmp;
    keepalive_requests 10000000;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    upstream sink { server 127.0.0.1:$((port + 1)); keepalive 16; }
    server { listen 127.0.0.1:$((port + 1)); location / { return 204; } }
    teachfloor_dedupe_zone zone=d:$size ttl=1h;
    server {
        listen 127.0.0.1:$port;
        location = /hook {
            teachfloor_webhook on;
            teachfloor_secret whsec_test;
            teachfloor_dedupe zone=d;
            proxy_ignore_client_abort on;
            proxy_pass http://sink;
        }
    }
}
CONF
    valgrind --tool=cachegrind --cache-sim=yes --I1=32768,8,64 \
        --D1=32768,8,64 --LL=262144,16,64 \
        --cachegrind-out-file="$d/cg.out" --log-file="$d/valgrind.log" \
        "$nginx" -p "$d/" -c nginx.conf &
    vp=$!
    for ((i = 0; i < 100; i++)); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.5
    done
    perl "$root/bench/client.pl" --port "$port" --count "$n" --body "$body" \
        --secret whsec_test --unique --expect 204 > "$d/client.log"
    kill -QUIT "$vp"
    wait "$vp" || true
    grep '^summary:' "$d/cg.out"
}

# summary: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw
read -r _ ir1 _ _ _ d1r1 dlr1 _ d1w1 dlw1 <<< "$(run "$n1")"
read -r _ ir2 _ _ _ d1r2 dlr2 _ d1w2 dlw2 <<< "$(run "$n2")"

awk -v n=$((n2 - n1)) -v ir=$((ir2 - ir1)) -v d1=$((d1r2 + d1w2 - d1r1 - d1w1)) \
    -v dl=$((dlr2 + dlw2 - dlr1 - dlw1)) -v size="$size" 'BEGIN {
    printf "dedupe zone %s, per event once it is full: %.0f instructions, %.1f L1 data misses, %.2f last-level data misses\n",
        size, ir / n, d1 / n, dl / n }'
