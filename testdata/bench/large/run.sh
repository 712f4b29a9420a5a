#!/usr/bin/env bash
# Large-data check: Godwit on a generated zone of 1,000,000 records and a
# routes file of 1,000,000 IPv4 (+100,000 IPv6) prefixes, beside the same
# workloads on the same generator's small output (1,000 records, 1,000
# prefixes), both measured in one run. Run from the repository root (make
# bench-large does, after building bin/godwit): testdata/bench/large/run.sh
#
# The data is generated into a temporary directory (testdata/bench/large/gen)
# and removed at the end. Per data set:
#   - `godwit check` wall time and peak RSS;
#   - `godwit serve` start-up: wall time until its "serving DNS on" line
#     (unpinned), then VmRSS and VmHWM from /proc/PID/status;
#   - reload: append a record to the zone file (the watcher reloads it, after
#     its 200 ms debounce; a bare touch is only a chmod event and is ignored)
#     and SIGHUP (every file), each timed until the "reload done" log line,
#     with the server's own took=; VmHWM after the reloads;
#   - qps: server pinned to CPU $LARGE_SERVER_CPU (after the reloads) and
#     warmed up for 2 s, dnsperf on CPU $LARGE_CLIENT_CPU, closed loop
#     (-c 4 -T 1 -q 200 -l $LARGE_SECONDS):
#     random existing names, random NXDOMAIN names, random names under the
#     wildcards, and the routes service with an ECS address from the table
#     (a different one per round); server CPU µs per answered query.
#     Rounds alternate the order large/small, small/large.
#   - the large zone alone in NSD and in Godwit, one after the other
#     (testdata/bench/large/zonemem/servers.sh): time until answering, RSS
#     and PSS after loading, peak RSS during a reload, RSS 60 s after it.
#     Skipped with LARGE_ZONECMP=0.
# The section "## Large data (1M records, 1M prefixes)" is written to
# $LARGE_OUT and replaces (or is appended as) that section of $LARGE_DOC.
# To profile the loads behind start-up: testdata/bench/large/prof.
# Then the BGP case (three sessions of full tables, beside BIRD):
# testdata/bench/large/bgp.sh, skipped with LARGE_BGP=0.
#
# Environment (defaults in brackets):
#   LARGE_RECORDS [1000000], LARGE_V4 [1000000], LARGE_V6 [100000]
#   LARGE_SECONDS [8], LARGE_ROUNDS [2]
#   LARGE_SERVER_CPU [0], LARGE_CLIENT_CPU [1], LARGE_PORT_BASE [15400]
#   LARGE_GODWIT [bin/godwit], LARGE_OUT [bin/bench-large.md]
#   LARGE_DOC [docs/BENCHMARKS.md]; empty: do not touch it
#   LARGE_PROF [1]: profile the three loads (testdata/bench/large/prof)
#   LARGE_ZONECMP [1]: compare the zone alone with NSD (needs nsd)
#   LARGE_BGP [1]: run testdata/bench/large/bgp.sh afterwards (BGP_V4, BGP_V6)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$ROOT"
RECORDS=${LARGE_RECORDS:-1000000}
V4=${LARGE_V4:-1000000}
V6=${LARGE_V6:-100000}
SECS=${LARGE_SECONDS:-8}
ROUNDS=${LARGE_ROUNDS:-2}
SCPU=${LARGE_SERVER_CPU:-0}
CCPU=${LARGE_CLIENT_CPU:-1}
PORT_BASE=${LARGE_PORT_BASE:-15400}
GODWIT=${LARGE_GODWIT:-$ROOT/bin/godwit}
OUT=${LARGE_OUT:-$ROOT/bin/bench-large.md}
DOC=${LARGE_DOC-$ROOT/docs/BENCHMARKS.md}
CITY=$ROOT/testdata/geoip/godwit-city.mmdb
SETS=(large small)
HEADING='## Large data (1M records, 1M prefixes)'

for t in dnsperf dig taskset; do
	command -v $t >/dev/null || { echo "run.sh: $t is needed (apt-get install dnsperf bind9-dnsutils util-linux)" >&2; exit 2; }
done
[ -x "$GODWIT" ] || { echo "run.sh: $GODWIT missing: run make build" >&2; exit 2; }

WORK=$(mktemp -d /tmp/godwit-large.XXXXXX)
declare -A PID PORT
cleanup() {
	local s
	for s in "${!PID[@]}"; do kill "${PID[$s]}" 2>/dev/null || true; done
	for s in "${!PID[@]}"; do wait "${PID[$s]}" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'; }
mib() { awk -v kb="$1" 'BEGIN { printf "%.0f", kb / 1024 }'; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# cpu_ticks PID: utime+stime, fields 14 and 15 of /proc/PID/stat, counted
# after the last ')'.
cpu_ticks() {
	local s
	s=$(cat "/proc/$1/stat")
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo $((${12} + ${13}))
}

# wait_line FILE PATTERN SKIP PID: until FILE has more than SKIP lines
# matching PATTERN (60 s at most, or the process exits); prints the last one.
wait_line() {
	local i n
	for i in $(seq 6000); do
		n=$(grep -c -- "$2" "$1" || true)
		if [ "$n" -gt "$3" ]; then
			grep -- "$2" "$1" | tail -1
			return 0
		fi
		kill -0 "$4" 2>/dev/null || { echo "run.sh: server exited; log:" >&2; cat "$1" "${1%.*}.err" >&2; exit 1; }
		sleep 0.01
	done
	echo "run.sh: no '$2' in $1 within 60 s" >&2
	exit 1
}

took() { sed -n 's/.*took=\([^ ]*\).*/\1/p' <<<"$1"; }

# --- data ---
log "generating: $RECORDS records, $V4 + $V6 prefixes (and the small set)"
go build -o "$WORK/gen" ./testdata/bench/large/gen
"$WORK/gen" -out "$WORK/large" -records "$RECORDS" -v4 "$V4" -v6 "$V6" -city-db "$CITY" >"$WORK/large.gen"
"$WORK/gen" -out "$WORK/small" -records 1000 -v4 1000 -v6 100 -city-db "$CITY" >"$WORK/small.gen"
genval() { sed -n "s/.*\b$2=\([0-9]*\).*/\1/p" "$WORK/$1.gen"; }
declare -A R # results, keyed "set:metric"
for s in "${SETS[@]}"; do
	R[$s:zonebytes]=$(stat -c %s "$WORK/$s/zones/big.test.zone")
	R[$s:routebytes]=$(stat -c %s "$WORK/$s/routes.txt")
	R[$s:routelines]=$(grep -vc '^#' "$WORK/$s/routes.txt")
done

# --- check ---
for s in "${SETS[@]}"; do
	log "$s: godwit check"
	t0=$(now_ms)
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f '%M' -o "$WORK/$s.time" "$GODWIT" check -config "$WORK/$s/godwit.toml" >"$WORK/$s.check" 2>&1
		R[$s:checkrss]=$(tail -1 "$WORK/$s.time")
	else
		"$GODWIT" check -config "$WORK/$s/godwit.toml" >"$WORK/$s.check" 2>&1
		R[$s:checkrss]=0
	fi
	R[$s:check]=$(($(now_ms) - t0))
	cat "$WORK/$s.check" >&2
done

# --- profile of the loads (unpinned, like check) ---
if [ "${LARGE_PROF:-1}" = 1 ]; then
	log "large: profiling zones.LoadDir, zones.NewSet, routes.LoadFile"
	go build -o "$WORK/prof" ./testdata/bench/large/prof
	"$WORK/prof" -dir "$WORK/large" -cpuprofile "$WORK/cpu.out" -memprofile "$WORK/mem.out" >"$WORK/prof.txt"
	go tool pprof -top -nodecount 12 "$WORK/prof" "$WORK/cpu.out" 2>/dev/null |
		sed -n '/flat%/,$p' >"$WORK/cpu.top"
	go tool pprof -top -sample_index=inuse_space -nodecount 12 "$WORK/prof" "$WORK/mem.out" 2>/dev/null |
		sed -n '/flat%/,$p' >"$WORK/mem.top"
fi

# --- serve: start-up (unpinned, one at a time), then pin to SCPU ---
i=0
for s in "${SETS[@]}"; do
	i=$((i + 1))
	PORT[$s]=$((PORT_BASE + i))
	log "$s: godwit serve on 127.0.0.1:${PORT[$s]}"
	t0=$(now_ms)
	"$GODWIT" serve -config "$WORK/$s/godwit.toml" -listen "127.0.0.1:${PORT[$s]}" \
		-status-listen 127.0.0.1:0 >"$WORK/$s.log" 2>"$WORK/$s.err" &
	PID[$s]=$!
	wait_line "$WORK/$s.log" "serving DNS on" 0 "${PID[$s]}" >/dev/null
	R[$s:start]=$(($(now_ms) - t0))
	R[$s:rss]=$(status_kb "${PID[$s]}" VmRSS)
	R[$s:hwm]=$(status_kb "${PID[$s]}" VmHWM)
done

# --- answers are what the workloads claim ---
q() { dig +tries=1 +time=2 @127.0.0.1 -p "${PORT[$1]}" "${@:2}"; }
for s in "${SETS[@]}"; do
	name=$(awk 'NR == 1 { print $1 }' "$WORK/$s/q-exist.txt")
	q "$s" "$name" A | grep -q 'status: NOERROR' || { echo "run.sh: $s: $name not NOERROR" >&2; exit 1; }
	q "$s" "$(awk 'NR == 1 { print $1 }' "$WORK/$s/q-nx.txt")" A | grep -q 'status: NXDOMAIN' || { echo "run.sh: $s: no NXDOMAIN" >&2; exit 1; }
	[ -n "$(q "$s" +short "$(awk 'NR == 1 { print $1 }' "$WORK/$s/q-wild.txt")" A)" ] || { echo "run.sh: $s: wildcard empty" >&2; exit 1; }
	read -r addr _ <"$WORK/$s/ecs.txt"
	[ -n "$(q "$s" +short +subnet="$addr/32" svc.big.test A)" ] || { echo "run.sh: $s: service empty" >&2; exit 1; }
done

# --- reload ---
for s in "${SETS[@]}"; do
	log "$s: reload (zone change, then SIGHUP)"
	n=$(grep -c 'reload done' "$WORK/$s.err" || true)
	t0=$(now_ms)
	echo "reloadprobe IN A 192.0.2.99" >>"$WORK/$s/zones/big.test.zone"
	line=$(wait_line "$WORK/$s.err" 'reload done' "$n" "${PID[$s]}")
	R[$s:touch]=$(($(now_ms) - t0))
	R[$s:touchtook]=$(took "$line")
	[ "$(q "$s" +short reloadprobe.big.test A)" = 192.0.2.99 ] || { echo "run.sh: $s: zone change not served" >&2; exit 1; }
	t0=$(now_ms)
	kill -HUP "${PID[$s]}"
	line=$(wait_line "$WORK/$s.err" 'reload done' "$((n + 1))" "${PID[$s]}")
	R[$s:hup]=$(($(now_ms) - t0))
	R[$s:huptook]=$(took "$line")
	R[$s:hwm2]=$(status_kb "${PID[$s]}" VmHWM)
	R[$s:rss2]=$(status_kb "${PID[$s]}" VmRSS)
done

# --- qps: pin the servers, warm them up (2 s of existing names each) ---
for s in "${SETS[@]}"; do
	taskset -a -p -c "$SCPU" "${PID[$s]}" >/dev/null
	taskset -c "$CCPU" dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$WORK/$s/q-exist.txt" \
		-c 4 -T 1 -q 200 -l 2 >/dev/null 2>&1
done
WLS=(exist nx wild svc)
wl_title() {
	case $1 in
	exist) echo "random existing names (A/AAAA/TXT/MX/CNAME)" ;;
	nx) echo "random NXDOMAIN names" ;;
	wild) echo "random names under the wildcards" ;;
	svc) echo "routes service, ECS from the table" ;;
	esac
}
stat_of() { awk -v k="$2" 'index($0, k) { sub(/^.*: */, ""); print $1; exit }' "$1"; }
measure() { # SET WORKLOAD ROUND
	local s=$1 w=$2 r=$3 flags="" t0 t1 out=$WORK/dnsperf.out ecs addr
	if [ "$w" = svc ]; then
		ecs=$(awk -v n="$r" 'NR == (n - 1) % 4 + 1 { print $2 }' "$WORK/$s/ecs.txt")
		flags="-E $ecs"
	fi
	t0=$(cpu_ticks "${PID[$s]}")
	# shellcheck disable=SC2086
	taskset -c "$CCPU" dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$WORK/$s/q-$w.txt" $flags \
		-c 4 -T 1 -q 200 -l "$SECS" >"$out" 2>&1
	t1=$(cpu_ticks "${PID[$s]}")
	local done qps lost codes
	done=$(stat_of "$out" "Queries completed:")
	qps=$(stat_of "$out" "Queries per second:")
	lost=$(stat_of "$out" "Queries lost:")
	codes=$(awk '/Response codes:/ { sub(/^.*: */, ""); print; exit }' "$out")
	R[$s:$w:qps]="${R[$s:$w:qps]:-} $qps"
	R[$s:$w:cpu]="${R[$s:$w:cpu]:-} $(awk -v t=$((t1 - t0)) -v n="$done" 'BEGIN { printf "%.1f", n ? t * 10000 / n : 0 }')"
	R[$s:$w:lost]=$((${R[$s:$w:lost]:-0} + lost))
	R[$s:$w:codes]=$codes
	log "$s $w round $r: $qps qps, lost $lost, $codes"
}
for r in $(seq "$ROUNDS"); do
	for w in "${WLS[@]}"; do
		if [ $((r % 2)) = 1 ]; then order="large small"; else order="small large"; fi
		for s in $order; do measure "$s" "$w" "$r"; done
	done
done
for s in "${SETS[@]}"; do
	R[$s:hwm3]=$(status_kb "${PID[$s]}" VmHWM)
	R[$s:rss3]=$(status_kb "${PID[$s]}" VmRSS)
	kill "${PID[$s]}"
	wait "${PID[$s]}" 2>/dev/null || true
	unset "PID[$s]"
done

# --- the zone alone, beside NSD ---
if [ "${LARGE_ZONECMP:-1}" = 1 ]; then
	log "the large zone alone in NSD and Godwit (zonemem/servers.sh, about 4 minutes)"
	PATH=$PATH:/usr/sbin testdata/bench/large/zonemem/servers.sh "$WORK/large/zones/big.test.zone" \
		$((PORT_BASE + 90)) "$GODWIT" >"$WORK/zonecmp.txt"
	cat "$WORK/zonecmp.txt" >&2
fi

# --- report ---
mean() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.0f", NF ? s / NF : 0 }' <<<"$1"; }
mean1() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.1f", NF ? s / NF : 0 }' <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
{
	echo "$HEADING"
	echo
	echo "Generated by \`make bench-large\` (\`testdata/bench/large/run.sh\`) on $(date -u '+%Y-%m-%d %H:%M') UTC,"
	echo "$(nproc) CPUs, $("$GODWIT" version 2>/dev/null | head -1). The data comes from"
	echo "\`testdata/bench/large/gen\` (deterministic, written to a temporary directory):"
	echo "**large**: zone \`big.test\` of $RECORDS records ($(mib $((R[large:zonebytes] / 1024))) MiB) — A, AAAA, TXT, MX, CNAME"
	echo "over $(genval large names) names, $(genval large wildcards) wildcards, $(genval large delegations) delegations with glue — and a"
	echo "routes file of $V4 IPv4 + $V6 IPv6 prefixes (${R[large:routelines]} lines, $(mib $((R[large:routebytes] / 1024))) MiB; 9 in 10"
	echo "IPv4 prefixes /24, the rest /16–/23, 1 in 10 reached by two datacenters) mapped to ams/iad/sin"
	echo "by ASN; one service \`svc.big.test\` with \`policy = \"routes\"\`, \`fallback = \"geo\"\`."
	echo "**small**: the same generator at 1,000 records and 1,000 + 100 prefixes."
	echo
	echo "| | large | small | large/small |"
	echo "|---|---:|---:|---:|"
	echo "| \`godwit check\` wall s (2 CPUs) | $(secs "${R[large:check]}") | $(secs "${R[small:check]}") | $(ratio "${R[large:check]}" "${R[small:check]}") |"
	echo "| \`godwit check\` peak RSS MiB | $(mib "${R[large:checkrss]}") | $(mib "${R[small:checkrss]}") | |"
	echo "| \`serve\` start-up to \"serving DNS on\", s | $(secs "${R[large:start]}") | $(secs "${R[small:start]}") | $(ratio "${R[large:start]}" "${R[small:start]}") |"
	echo "| VmRSS after start-up, MiB | $(mib "${R[large:rss]}") | $(mib "${R[small:rss]}") | $(ratio "${R[large:rss]}" "${R[small:rss]}") |"
	echo "| VmHWM after start-up, MiB | $(mib "${R[large:hwm]}") | $(mib "${R[small:hwm]}") | |"
	echo "| zone file change: s to \"reload done\" incl. 200 ms debounce (server's took=) | $(secs "${R[large:touch]}") (${R[large:touchtook]}) | $(secs "${R[small:touch]}") (${R[small:touchtook]}) | |"
	echo "| SIGHUP reload of every file: s (took=) | $(secs "${R[large:hup]}") (${R[large:huptook]}) | $(secs "${R[small:hup]}") (${R[small:huptook]}) | |"
	echo "| VmRSS / VmHWM after the reloads, MiB | $(mib "${R[large:rss2]}") / $(mib "${R[large:hwm2]}") | $(mib "${R[small:rss2]}") / $(mib "${R[small:hwm2]}") | |"
	echo "| VmRSS / VmHWM at the end, MiB | $(mib "${R[large:rss3]}") / $(mib "${R[large:hwm3]}") | $(mib "${R[small:rss3]}") / $(mib "${R[small:hwm3]}") | |"
	echo
	echo "Start-up, check and reloads ran on both CPUs. Queries: server then pinned to CPU $SCPU and"
	echo "warmed up (2 s), dnsperf on CPU $CCPU, closed loop"
	echo "\`-c 4 -T 1 -q 200 -l $SECS\`, $ROUNDS rounds alternating large/small; mean max qps, and server"
	echo "CPU µs per answered query at that load (dnsperf saturates around 120–135k qps here,"
	echo "see the method above). The routes service gets a different ECS /32 from the table each round."
	echo
	echo "| workload | large qps | small qps | large/small | large µs/q | small µs/q | lost (L/S) | large rcodes |"
	echo "|---|---:|---:|---:|---:|---:|---:|---|"
	for w in "${WLS[@]}"; do
		lq=$(mean "${R[large:$w:qps]}")
		sq=$(mean "${R[small:$w:qps]}")
		echo "| $(wl_title "$w") | $lq | $sq | $(ratio "$lq" "$sq") | $(mean1 "${R[large:$w:cpu]}") | $(mean1 "${R[small:$w:cpu]}") | ${R[large:$w:lost]}/${R[small:$w:lost]} | ${R[large:$w:codes]} |"
	done
	if [ -s "$WORK/zonecmp.txt" ]; then
		zc() { awk -F' *[|] *' -v s="$1" -v c="$2" '$2 == s { print $c }' "$WORK/zonecmp.txt"; }
		echo
		echo "### The large zone alone, beside NSD"
		echo
		echo "\`testdata/bench/large/zonemem/servers.sh\`: the zone \`big.test\` alone (no routes, no services),"
		echo "served by NSD $(nsd -v 2>&1 | head -1 | sed 's/^NSD version //') (\`server-count: 1\`) and by Godwit, one after the other, unpinned."
		echo "Time until \`h1.big.test A\` answers NOERROR (dig every 10 ms; the median of 5 starts of each"
		echo "server, alternating, with their range: on this shared VM one start can take twice another);"
		echo "then, for one more start, RSS summed over the server's processes 2 s later"
		echo "(NSD's server process is a fork sharing most pages with its parent, so its summed RSS counts"
		echo "them twice: PSS is the fair figure); the peak while a reload runs (a record appended; SIGHUP for"
		echo "NSD, the file watch for Godwit), sampled every 50 ms until the new record answers and 2 s more;"
		echo "RSS 60 s after the reload."
		echo
		echo "| server | answering after, s: median (range) | RSS after load, MiB | PSS after load, MiB | reload peak RSS, MiB (× before) | RSS 60 s after the reload, MiB (× before) |"
		echo "|---|---:|---:|---:|---:|---:|"
		cat "$WORK/zonecmp.txt"
		echo
		echo "| figure (issue #20) | Godwit | NSD | Godwit / NSD | target |"
		echo "|---|---:|---:|---:|---:|"
		echo "| RSS after loading (PSS for both) | $(zc godwit 5) | $(zc nsd 5) | $(ratio "$(zc godwit 5)" "$(zc nsd 5)") | ≤ 1.0 |"
		echo "| time until answering, s (median) | $(zc godwit 3 | cut -d' ' -f1) | $(zc nsd 3 | cut -d' ' -f1) | $(ratio "$(zc godwit 3 | cut -d' ' -f1)" "$(zc nsd 3 | cut -d' ' -f1)") | ≤ 1.0 |"
		echo "| reload: peak RSS / RSS before | $(zc godwit 6 | sed 's/.*(\(.*\)×)/\1/') | $(zc nsd 6 | sed 's/.*(\(.*\)×)/\1/') | | ≤ 2.0 |"
		echo "| 60 s after the reload: RSS / RSS before | $(zc godwit 7 | sed 's/.*(\(.*\)×)/\1/') | $(zc nsd 7 | sed 's/.*(\(.*\)×)/\1/') | | ≤ 1.1 |"
	fi
	if [ -s "$WORK/prof.txt" ]; then
		echo
		echo "### Where the large load goes"
		echo
		echo "\`testdata/bench/large/prof\` runs the three loads behind start-up one after the other"
		echo "on the large set (2 CPUs), with the heap still live after each (after a GC):"
		echo
		echo '```'
		cat "$WORK/prof.txt"
		echo '```'
		echo
		echo "CPU, top functions (flat; \`runtime.*\` scan and mark functions are the garbage collector):"
		echo
		echo '```'
		cat "$WORK/cpu.top"
		echo '```'
		echo
		echo "Heap live at the end (inuse_space), by allocating function:"
		echo
		echo '```'
		cat "$WORK/mem.top"
		echo '```'
	fi
} >"$OUT"
log "wrote $OUT"

# Replace the section in DOC (from its heading to the next "## " or the end),
# or append it.
if [ -n "$DOC" ] && [ -f "$DOC" ]; then
	awk -v h="$HEADING" '$0 == h { skip = 1; next } skip && /^## / { skip = 0 } !skip' "$DOC" >"$WORK/doc"
	# drop trailing blank lines, then one blank line and the section
	sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$WORK/doc" >"$WORK/doc2"
	{ cat "$WORK/doc2"; echo; cat "$OUT"; } >"$DOC"
	log "updated $DOC"
fi
cat "$OUT"

if [ "${LARGE_BGP:-1}" = 1 ]; then
	LARGE_DOC="$DOC" testdata/bench/large/bgp.sh
fi
