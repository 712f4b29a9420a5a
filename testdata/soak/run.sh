#!/usr/bin/env bash
# Soak test (make soak): runs bin/godwit on loopback for SOAK_SECONDS under a
# steady dnsperf load while everything it depends on churns:
#   - the HTTP health backend of one site flaps every SOAK_FLAP seconds,
#   - a zone is rewritten (serial bump, write-rename) every SOAK_ZONE_EVERY s,
#   - the GeoIP city DB is swapped (copy + rename) every SOAK_MMDB_EVERY s,
#     alternating godwit-city.mmdb and MaxMind's GeoIP2-City-Test.mmdb,
#   - the BIRD BGP peer is restarted (SIGTERM by PID) every SOAK_BIRD_EVERY s.
# Every SOAK_SAMPLE_EVERY s it samples godwit's RSS (/proc/PID/status), its
# goroutines (go_goroutines on /metrics) and its response counters. At the
# end it prints a summary and writes it to SOAK_REPORT (docs/RELIABILITY.md).
# Exit status 0 only when every criterion passes.
#
# Needs: dnsperf, bird (bird2), python3, curl. Everything binds 127.0.0.0/8.
# Every process it starts is stopped by PID when it exits (trap EXIT).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/testdata/soak"
GODWIT=${GODWIT:-$ROOT/bin/godwit}
SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_QPS=${SOAK_QPS:-5000}          # plain dnsperf
SOAK_ECS_QPS=${SOAK_ECS_QPS:-1000}  # second dnsperf, every query with ECS 81.2.69.142/32
SOAK_FLAP=${SOAK_FLAP:-5}
SOAK_ZONE_EVERY=${SOAK_ZONE_EVERY:-2}
SOAK_MMDB_EVERY=${SOAK_MMDB_EVERY:-30}
SOAK_BIRD_EVERY=${SOAK_BIRD_EVERY:-60}
SOAK_SAMPLE_EVERY=${SOAK_SAMPLE_EVERY:-10}
SOAK_WARMUP=${SOAK_WARMUP:-60}      # seconds of samples left out of the flatness check
SOAK_MAX_LOST_PPM=${SOAK_MAX_LOST_PPM:-10}  # lost queries allowed, per million sent
SOAK_REPORT=${SOAK_REPORT:-$ROOT/docs/RELIABILITY.md}
FLAP_ADDR=127.0.0.41
STABLE_ADDR=127.0.0.42
BIRD_ADDR=127.0.0.43

die() { echo "soak: $*" >&2; exit 2; }

BIRD=$(command -v bird || { test -x /usr/sbin/bird && echo /usr/sbin/bird; } || true)
[ -n "$BIRD" ] || die "bird is not installed (apt-get install bird2)"
for t in dnsperf python3 curl; do
  command -v $t >/dev/null || die "$t is not installed"
done
[ -x "$GODWIT" ] || die "$GODWIT is missing (make build)"

RUN=$(mktemp -d /tmp/godwit-soak.XXXXXX)
start_bird() {
  "$BIRD" -f -c "$RUN/bird.conf" -s "$RUN/bird.ctl" -P "$RUN/bird.pid" >>"$RUN/bird.log" 2>&1 &
  echo $! >"$RUN/bird.mypid"
}
stop_bird() {
  local p; p=$(cat "$RUN/bird.mypid" 2>/dev/null) || return 0
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
}

PIDS=()  # everything started, stopped in reverse order at exit
cleanup() {
  local rc=$?
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  stop_bird # after its churner, which could have started another one
  if [ "$rc" -eq 0 ] && [ -z "${SOAK_KEEP:-}" ]; then rm -rf "$RUN"; else echo "soak: run directory kept: $RUN" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

freeport() { # freeport HOST: a TCP port free on HOST right now
  python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"
}
render() { # render TEMPLATE OUT: replaces the placeholders
  sed -e "s/{{.BGPPort}}/$BGP_PORT/g" -e "s/{{.BirdAddr}}/$BIRD_ADDR/g" -e "s/{{.BirdPort}}/$BIRD_PORT/g" \
    -e "s/{{.HealthPort}}/$HEALTH_PORT/g" -e "s/{{.FlapAddr}}/$FLAP_ADDR/g" -e "s/{{.StableAddr}}/$STABLE_ADDR/g" \
    -e "s/{{.CheckInterval}}/1s/g" -e "s/{{.CheckTimeout}}/500ms/g" "$1" >"$2"
  if grep -n '{{' "$2"; then die "$1: placeholder left unrendered"; fi
}
wait_for() { # wait_for SECONDS FILE PATTERN
  for _ in $(seq $(($1 * 10))); do grep -qE "$3" "$2" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
metric() { # metric NAME_WITH_LABELS: one value from godwit's /metrics, 0 if absent
  curl -fsS --max-time 5 "http://$STATUS_ADDR/metrics" | awk -v m="$1" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }'
}
metric_sum() { # metric_sum NAME: the sum over every label set
  curl -fsS --max-time 5 "http://$STATUS_ADDR/metrics" | awk -v m="$1" 'index($1, m) == 1 && (length($1) == length(m) || substr($1, length(m) + 1, 1) == "{") { s += $2 } END { printf "%d", s }'
}

BGP_PORT=$(freeport 127.0.0.1)
BIRD_PORT=$(freeport $BIRD_ADDR)
HEALTH_PORT=$(freeport $FLAP_ADDR)
mkdir -p "$RUN/zones" "$RUN/geoip"
cp "$HERE"/zones/*.zone "$RUN/zones/"
cp "$ROOT/testdata/geoip/godwit-city.mmdb" "$RUN/geoip/city.mmdb"
render "$HERE/godwit.toml.tmpl" "$RUN/godwit.toml"
render "$HERE/bird.conf.tmpl" "$RUN/bird.conf"
"$BIRD" -p -c "$RUN/bird.conf" || die "bird.conf does not parse"

python3 "$HERE/backend.py" $FLAP_ADDR $STABLE_ADDR "$HEALTH_PORT" "$SOAK_FLAP" >"$RUN/backend.log" 2>&1 &
PIDS+=($!)
wait_for 10 "$RUN/backend.log" 'backends up' || die "health backends did not start: $(cat "$RUN/backend.log")"

"$GODWIT" serve -config "$RUN/godwit.toml" -listen 127.0.0.1:0 -status-listen 127.0.0.1:0 >"$RUN/godwit.out" 2>"$RUN/godwit.err" &
GODWIT_PID=$!
PIDS+=($GODWIT_PID)
wait_for 30 "$RUN/godwit.out" 'status page on http://' || die "godwit did not start: $(cat "$RUN/godwit.err")"
DNS_ADDR=$(grep -oE 'serving DNS on [0-9.:]+' "$RUN/godwit.out" | head -1 | awk '{print $4}')
STATUS_ADDR=$(grep -oE 'status page on http://[0-9.:]+' "$RUN/godwit.out" | head -1 | sed 's|.*http://||')
DNS_PORT=${DNS_ADDR##*:}
echo "soak: godwit pid $GODWIT_PID, DNS $DNS_ADDR, status $STATUS_ADDR, run dir $RUN"

# The churners. Each is a subshell that sleeps in the background so that its
# TERM trap runs at once and takes the sleep with it.
churn() { # churn EVERY COMMAND...
  local every=$1; shift
  (
    sp=
    trap '[ -n "$sp" ] && kill "$sp" 2>/dev/null; exit 0' TERM
    while :; do
      sleep "$every" & sp=$!; wait "$sp"; sp=
      "$@"
    done
  ) &
  PIDS+=($!)
}
ZONE_COUNT="$RUN/zone.count"; echo 0 >"$ZONE_COUNT"
rewrite_zone() {
  local c; c=$(($(cat "$ZONE_COUNT") + 1)); echo $c >"$ZONE_COUNT"
  local n=$((c + 1)) # the serial: the zone in testdata has 1
  printf '$ORIGIN churn.soak.test.\n$TTL 60\n@ IN SOA ns1 hostmaster.soak.test. %d 3600 600 604800 60\n  IN NS ns1\nns1 IN A 127.0.0.1\nwww IN A 10.0.%d.%d\nwww IN TXT "serial %d"\n' \
    "$n" $((n / 256 % 256)) $((n % 256)) "$n" >"$RUN/zones/.churn.tmp"
  mv "$RUN/zones/.churn.tmp" "$RUN/zones/churn.soak.test.zone"
}
MMDB_COUNT="$RUN/mmdb.count"; echo 0 >"$MMDB_COUNT"
swap_mmdb() {
  local n; n=$(($(cat "$MMDB_COUNT") + 1)); echo $n >"$MMDB_COUNT"
  local src=godwit-city.mmdb; [ $((n % 2)) -eq 1 ] && src=GeoIP2-City-Test.mmdb
  cp "$ROOT/testdata/geoip/$src" "$RUN/geoip/.city.tmp"
  mv "$RUN/geoip/.city.tmp" "$RUN/geoip/city.mmdb"
}
BIRD_COUNT="$RUN/bird.count"; echo 0 >"$BIRD_COUNT"
restart_bird() {
  stop_bird
  start_bird
  echo $(($(cat "$BIRD_COUNT") + 1)) >"$BIRD_COUNT"
}
# BIRD is restarted by the bird churner; cleanup stops whichever BIRD runs
# (its PID is in bird.mypid).
start_bird

# Let the BGP session come up (the live explain shows the route learned from
# BIRD), then take the baseline.
bgp_up=no
for _ in $(seq 150); do
  if curl -fsS --max-time 5 "http://$STATUS_ADDR/api/v1/explain?name=near.gslb.soak.test.&client=198.18.1.1" 2>/dev/null |
    grep -q "bgp $BIRD_ADDR"; then bgp_up=yes; break; fi
  sleep 0.2
done
echo "soak: BGP route from BIRD in effect: $bgp_up"
SF0=$(metric 'godwit_dns_responses_total{rcode="SERVFAIL"}')
PANIC0=$(metric 'godwit_dns_panics_total')

churn "$SOAK_ZONE_EVERY" rewrite_zone
churn "$SOAK_MMDB_EVERY" swap_mmdb
churn "$SOAK_BIRD_EVERY" restart_bird

# dnsperf -v prints one line per answered query ("> RCODE name type latency");
# awk keeps a latency histogram for the percentiles and passes the rest.
latency_filter() {
  awk -v hist="$1" '
    /^> / { if ($2 != "T" && NF >= 5) { us = int($NF * 1e6); b = us < 1000 ? int(us / 10) * 10 : us < 100000 ? int(us / 1000) * 1000 : int(us / 10000) * 10000; h[b]++ } ; next }
    { print; fflush() }
    END { for (b in h) print b, h[b] > hist }'
}
dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d "$HERE/queries.txt" -Q "$SOAK_QPS" -l "$SOAK_SECONDS" -c 4 -T 1 -v 2>&1 |
  latency_filter "$RUN/plain.hist" >"$RUN/dnsperf-plain.txt" &
PERF1=$!
PIDS+=($PERF1)
dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d "$HERE/queries.txt" -Q "$SOAK_ECS_QPS" -l "$SOAK_SECONDS" -c 2 -T 1 \
  -E 8:000120005102458e -v 2>&1 | latency_filter "$RUN/ecs.hist" >"$RUN/dnsperf-ecs.txt" &
PERF2=$!
PIDS+=($PERF2)
udp_rcvbuf_errors() { awk '$1 == "Udp:" && $2 ~ /^[0-9]+$/ { print $6 }' /proc/net/snmp; }
RCVBUF0=$(udp_rcvbuf_errors)
DROPPED0=$(metric_sum godwit_dns_dropped_total)
echo "t_s,rss_kb,goroutines,servfail,responses,other_dnsperf,dropped,udp_rcvbuf_errors" >"$RUN/samples.csv"
began=$(date +%s)
while :; do
  now=$(date +%s)
  t=$((now - began))
  rss=$(awk '/^VmRSS:/ { print $2 }' /proc/$GODWIT_PID/status 2>/dev/null) || die "godwit (pid $GODWIT_PID) died: $(tail -5 "$RUN/godwit.err")"
  body=$(curl -fsS --max-time 5 "http://$STATUS_ADDR/metrics") || die "godwit's /metrics does not answer"
  gr=$(awk '$1 == "go_goroutines" { print $2 }' <<<"$body")
  sf=$(awk '$1 == "godwit_dns_responses_total{rcode=\"SERVFAIL\"}" { print $2 }' <<<"$body")
  tot=$(awk '$1 ~ /^godwit_dns_responses_total/ { s += $2 } END { printf "%d", s }' <<<"$body")
  dropped=$(awk '$1 ~ /^godwit_dns_dropped_total/ { s += $2 } END { printf "%d", s }' <<<"$body")
  # Other dnsperf processes (a benchmark run beside the soak) besides ours.
  others=$(($(pgrep -xc dnsperf || true) - $(pgrep -fc "^dnsperf -s 127.0.0.1 -p $DNS_PORT " || true)))
  echo "$t,$rss,$gr,$((${sf:-0} - ${SF0%.*})),$tot,$((others > 0 ? others : 0)),$((dropped - DROPPED0)),$(($(udp_rcvbuf_errors) - RCVBUF0))" >>"$RUN/samples.csv"
  printf 'soak: t=%4ds rss=%6d kB goroutines=%4s servfail=%s responses=%s\n' "$t" "$rss" "$gr" "$((${sf:-0} - ${SF0%.*}))" "$tot"
  if ! kill -0 $PERF1 2>/dev/null && ! kill -0 $PERF2 2>/dev/null; then break; fi
  [ "$t" -gt $((SOAK_SECONDS + 30)) ] && die "dnsperf did not finish"
  sleep "$SOAK_SAMPLE_EVERY" & wait $!
done
wait $PERF1 $PERF2 || true
kill -0 $GODWIT_PID 2>/dev/null || die "godwit died during the soak: $(tail -5 "$RUN/godwit.err")"
PANICS=$(( $(metric 'godwit_dns_panics_total' | cut -d. -f1) - ${PANIC0%.*} ))
RELOAD_FAILURES=$(metric_sum godwit_reload_failures_total)
TRANSITIONS=$(metric_sum godwit_health_transitions_total)

set +e
python3 "$HERE/report.py" \
  --samples "$RUN/samples.csv" --plain "$RUN/dnsperf-plain.txt" --ecs "$RUN/dnsperf-ecs.txt" \
  --plain-hist "$RUN/plain.hist" --ecs-hist "$RUN/ecs.hist" \
  --warmup "$SOAK_WARMUP" --max-lost-ppm "$SOAK_MAX_LOST_PPM" --panics "$PANICS" \
  --zone-rewrites "$(cat "$ZONE_COUNT")" --mmdb-swaps "$(cat "$MMDB_COUNT")" --bird-restarts "$(cat "$BIRD_COUNT")" \
  --seconds "$SOAK_SECONDS" --qps "$SOAK_QPS" --ecs-qps "$SOAK_ECS_QPS" --flap "$SOAK_FLAP" \
  --zone-every "$SOAK_ZONE_EVERY" --mmdb-every "$SOAK_MMDB_EVERY" --bird-every "$SOAK_BIRD_EVERY" \
  --reload-failures "$RELOAD_FAILURES" --bgp-up "$bgp_up" --health-transitions "$TRANSITIONS" --out "$SOAK_REPORT"
rc=$?
set -e
exit $rc
