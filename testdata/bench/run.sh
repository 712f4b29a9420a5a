#!/usr/bin/env bash
# Side-by-side benchmark: Godwit against gdnsd, PowerDNS (bind + geoip
# backends) and NSD on loopback, the same zone and the same geo service.
# Run from the repository root (make bench does): testdata/bench/run.sh
#
# Each server runs pinned to CPU $BENCH_SERVER_CPU, dnsperf to CPU
# $BENCH_CLIENT_CPU. For every workload, servers are measured in turn, in the
# same run, in alternating order (round 1: A B C D, round 2: D C B A, ...), so
# that machine drift cancels out of the ratios. Per server and workload:
#   - max qps: closed loop, dnsperf -c 4 -T 1 -q 200 -l $BENCH_SECONDS
#   - at a fixed offered rate (-Q, half of Godwit's max qps of round 1):
#     server CPU µs per answered query (utime+stime of the server's process
#     tree from /proc), p50/p99 latency (dnsperf -v per-query latencies),
#     lost queries
#   - peak RSS (VmHWM) of each server over the whole run
# The report goes to $BENCH_OUT (default docs/BENCHMARKS.md), replacing it except
# for the sections from its first "## Large data" heading on (make bench-large's),
# which are kept as they are.
#
# Environment (defaults in brackets):
#   BENCH_SECONDS [8]       length of each dnsperf run
#   BENCH_ROUNDS [2]        rounds of alternation
#   BENCH_SERVERS           [godwit godwit-wildcard godwit-signed gdnsd pdns
#                           pdns-signed nsd]; godwit must be first. Variants:
#                           godwit-portable: Godwit with [server] io = "portable"
#                             (the goroutine read loop instead of the packet engine)
#                           godwit-wildcard: the same config listening on 0.0.0.0
#                             (queries still to 127.0.0.1); static and geo-ecs only
#                           godwit-signed: the same config plus [dnssec] keys_dir,
#                             gslb.test signed with a CSK (dnssec-keygen -a 13)
#                           pdns-signed: pdns with gslb.test signed online by the
#                             geoip backend (geoip-dnssec-keydir, pdnsutil secure-zone)
#                           The signed servers run geo-ecs-do only, and only after
#                           dig shows RRSIGs and delv validates their answers.
#   BENCH_WORKLOADS         [static geo-ecs geo-ecs-do geo weighted nxdomain tcp]
#                           geo-ecs-do: geo-ecs with the DO bit (dnsperf -D), for
#                           the signed servers, at geo-ecs's fixed rate
#   BENCH_PORT_BASE [15300] servers listen on port BASE+1, BASE+2, ... in
#                           BENCH_SERVERS order
#   BENCH_SERVER_CPU [0], BENCH_CLIENT_CPU [1]
#   BENCH_OUT [docs/BENCHMARKS.md]; BENCH_GO [1]: also run the Go benchmarks
#   BENCH_GO_OUTPUT: a file with go test -bench output to report instead
#   BENCH_PROFILE [1]: sample Godwit with perf for 5 s (when perf exists)
#   BENCH_GODWIT [bin/godwit]: the binary to measure (make bench builds it)
#   BENCH_GODWIT_GOMAXPROCS [2]: GOMAXPROCS for Godwit. Pinned to one CPU the Go
#       runtime picks 1, which leaves no room for the UDP packet engine (it runs
#       at most GOMAXPROCS-1 threads, docs/dns.md); 2 gives it one thread.
#   BENCH_SWEEP [20000 40000 80000]: fixed rates of the CPU-per-query sweep
#       (geo + ECS, every server that serves it); empty to skip
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$ROOT/testdata/bench
SECS=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-2}
SERVERS=(${BENCH_SERVERS:-godwit godwit-wildcard godwit-signed gdnsd pdns pdns-signed nsd})
WORKLOADS=(${BENCH_WORKLOADS:-static geo-ecs geo-ecs-do geo weighted nxdomain tcp})
PORT_BASE=${BENCH_PORT_BASE:-15300}
SCPU=${BENCH_SERVER_CPU:-0}
CCPU=${BENCH_CLIENT_CPU:-1}
OUT=${BENCH_OUT:-$ROOT/docs/BENCHMARKS.md}
GODWIT=${BENCH_GODWIT:-$ROOT/bin/godwit}
GEOIP=$ROOT/testdata/geoip/GeoIP2-City-Test.mmdb
# ECS option 8: family 1, source /32, scope 0, address 81.2.69.142 (London in
# GeoIP2-City-Test.mmdb; nearest datacenter: ams).
ECS=8:000120005102458e

[ "${SERVERS[0]}" = godwit ] || { echo "run.sh: BENCH_SERVERS must start with godwit" >&2; exit 2; }

WORK=$(mktemp -d /tmp/godwit-bench.XXXXXX)
# Run a copy: a rebuild of bin/godwit during the run must not change what is
# measured, its version line or perf's symbols.
cp "$GODWIT" "$WORK/godwit-bin"
GODWIT_SUM=$(sha256sum "$GODWIT" | cut -c1-12)
GODWIT_TIME=$(date -u -r "$GODWIT" '+%Y-%m-%d %H:%M UTC')
GODWIT=$WORK/godwit-bin
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A PID PORT SKIPPED
cleanup() {
	local s
	for s in "${!PID[@]}"; do
		kill "${PID[$s]}" 2>/dev/null || true
	done
	for s in "${!PID[@]}"; do
		wait "${PID[$s]}" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

# subst FILE DEST SERVER: copy a committed config with its placeholders filled.
subst() {
	sed -e "s|@PORT@|${PORT[$3]}|g" -e "s|@RUN@|$WORK/$3|g" -e "s|@GEOIP@|$GEOIP|g" "$1" >"$2"
}

# The pids of a process and all its descendants (NSD forks its servers).
tree_pids() {
	local c
	echo "$1"
	for c in $(pgrep -P "$1" || true); do tree_pids "$c"; done
}

# cpu_ticks PID: utime+stime (fields 14 and 15 of /proc/PID/stat, counted
# after the last ')' since names may contain spaces) summed over the tree.
cpu_ticks() {
	local total=0 p s
	for p in $(tree_pids "$1"); do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		# shellcheck disable=SC2086
		set -- $s
		total=$((total + ${12} + ${13}))
	done
	echo "$total"
}

# peak_rss_kb PID: VmHWM summed over the process tree.
peak_rss_kb() {
	local total=0 p v
	for p in $(tree_pids "$1"); do
		v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
		total=$((total + ${v:-0}))
	done
	echo "$total"
}

wait_ready() { # SERVER NAME: until the server answers NAME SOA
	local i
	for i in $(seq 100); do
		if ! kill -0 "${PID[$1]}" 2>/dev/null; then
			echo "run.sh: $1 exited; its log:" >&2
			cat "$WORK/$1.log" >&2
			exit 1
		fi
		if [ -n "$(dig +short +time=1 +tries=1 @127.0.0.1 -p "${PORT[$1]}" "$2" SOA 2>/dev/null)" ]; then
			return 0
		fi
		sleep 0.1
	done
	echo "run.sh: $1 did not answer on 127.0.0.1:${PORT[$1]} within 10 s; its log:" >&2
	cat "$WORK/$1.log" >&2
	exit 1
}

# run_godwit NAME CONFIG HOST: start a Godwit server on HOST:PORT[NAME].
run_godwit() {
	GOMAXPROCS=${BENCH_GODWIT_GOMAXPROCS:-2} taskset -c "$SCPU" "$GODWIT" serve -config "$2" \
		-listen "$3:${PORT[$1]}" -status-listen 127.0.0.1:0 >"$WORK/$1.log" 2>&1 &
	PID[$1]=$!
}

# godwit_config: the committed config with its paths made absolute, for the
# variants whose config is a modified copy. The copy goes to a directory of
# its own, $WORK/NAME/godwit.toml: Godwit watches its config file's directory
# (fsnotify), and every write to dnsperf's output in $WORK would wake it,
# which at 35-60k qps roughly doubled the CPU per query measured.
godwit_config() {
	sed -e "s|^dir = \"zones\"|dir = \"$BENCH/zones\"|" -e "s|^city_db = .*|city_db = \"$GEOIP\"|" "$BENCH/godwit.toml"
}

start_godwit() { run_godwit godwit "$BENCH/godwit.toml" 127.0.0.1; }

# Godwit with io = "portable".
start_godwit-portable() {
	mkdir -p "$WORK/godwit-portable"
	godwit_config | sed -e 's|^\[server\]$|[server]\nio = "portable"|' >"$WORK/godwit-portable/godwit.toml"
	run_godwit godwit-portable "$WORK/godwit-portable/godwit.toml" 127.0.0.1
}

# Godwit on the wildcard address: the same binary and config, 0.0.0.0:PORT.
# The packet engine learns each datagram's destination from IP_PKTINFO and
# replies from it (docs/dns.md); the queries still go to 127.0.0.1.
start_godwit-wildcard() { run_godwit godwit-wildcard "$BENCH/godwit.toml" 0.0.0.0; }

# anchor ZONE: delv's trust-anchors clause for the KSKs/CSKs (flags 257) among
# the DNSKEY records (zone file syntax) on stdin.
anchor() {
	awk -v z="${1%.}." '!/^;/ {
		for (i = 1; i <= NF; i++) if ($i == "DNSKEY") break
		if (i > NF || $(i + 1) != 257) next
		k = ""; for (j = i + 4; j <= NF; j++) k = k $j
		a = a sprintf("  %s static-key %s %s %s \"%s\";\n", z, $(i + 1), $(i + 2), $(i + 3), k) }
		END { if (a == "") exit 1; printf "trust-anchors {\n%s};\n", a }'
}

# Godwit signing gslb.test online: one CSK (ECDSA P-256, algorithm 13) made
# now with dnssec-keygen into $WORK/godwit-signed/keys. Only gslb.test is
# signed: the geo-ecs-do workload asks nothing else, and PowerDNS's geoip
# backend signs that zone only.
start_godwit-signed() {
	local keys=$WORK/godwit-signed/keys
	mkdir -p "$keys"
	if ! (cd "$keys" && dnssec-keygen -q -a 13 -f KSK -n ZONE gslb.test) >"$WORK/godwit-signed.log" 2>&1; then
		WHY="dnssec-keygen -a 13 -f KSK -n ZONE gslb.test failed: $(tail -2 "$WORK/godwit-signed.log")"
		return 1
	fi
	anchor gslb.test <"$keys"/Kgslb.test.+013+*.key >"$WORK/godwit-signed.anchor"
	{
		godwit_config
		printf '\n[dnssec]\nkeys_dir = "%s"\n' "$keys"
	} >"$WORK/godwit-signed/godwit.toml"
	run_godwit godwit-signed "$WORK/godwit-signed/godwit.toml" 127.0.0.1
}

start_gdnsd() {
	mkdir -p "$WORK/gdnsd/zones"
	subst "$BENCH/gdnsd/config" "$WORK/gdnsd/config" gdnsd
	# gdnsd names zone files after the zone, without a suffix.
	cp "$BENCH/zones/example.test.zone" "$WORK/gdnsd/zones/example.test"
	cp "$BENCH/gdnsd/gslb.test.zone" "$WORK/gdnsd/zones/gslb.test"
	taskset -c "$SCPU" gdnsd -c "$WORK/gdnsd" start >"$WORK/gdnsd.log" 2>&1 &
	PID[gdnsd]=$!
}

# pdns_config NAME: PowerDNS's config dir $WORK/NAME from the committed files.
pdns_config() {
	mkdir -p "$WORK/$1"
	subst "$BENCH/pdns/pdns.conf" "$WORK/$1/pdns.conf" "$1"
	subst "$BENCH/pdns/named.conf" "$WORK/$1/named.conf" "$1"
	cp "$BENCH/pdns/geo.yaml" "$WORK/$1/geo.yaml"
	cp "$BENCH/zones/example.test.zone" "$WORK/$1/example.test.zone"
}

start_pdns() {
	pdns_config pdns
	taskset -c "$SCPU" pdns_server --config-dir="$WORK/pdns" >"$WORK/pdns.log" 2>&1 &
	PID[pdns]=$!
}

# PowerDNS with gslb.test signed online by the geoip backend: its keys live
# in geoip-dnssec-keydir, where pdnsutil secure-zone puts one CSK (ECDSA
# P-256, algorithm 13, as for Godwit). example.test (bind backend) stays
# unsigned. The backend marks the zone NSEC3 narrow; the workload asks for
# names that exist, so no denial is signed.
start_pdns-signed() {
	local d=$WORK/pdns-signed id
	pdns_config pdns-signed
	mkdir -p "$d/keys"
	printf '%s\n' "geoip-dnssec-keydir=$d/keys" default-ksk-algorithm=ecdsa256 default-zsk-algorithm= >>"$d/pdns.conf"
	if ! pdnsutil --config-dir="$d" secure-zone gslb.test >"$WORK/pdns-signed.log" 2>&1; then
		WHY="pdnsutil secure-zone gslb.test failed: $(tail -2 "$WORK/pdns-signed.log")"
		return 1
	fi
	id=$(pdnsutil --config-dir="$d" show-zone gslb.test 2>>"$WORK/pdns-signed.log" | awk '/^ID = / { print $3; exit }')
	pdnsutil --config-dir="$d" export-zone-dnskey gslb.test "$id" 2>>"$WORK/pdns-signed.log" |
		anchor gslb.test >"$WORK/pdns-signed.anchor"
	taskset -c "$SCPU" pdns_server --config-dir="$d" >>"$WORK/pdns-signed.log" 2>&1 &
	PID[pdns-signed]=$!
}

start_nsd() {
	mkdir -p "$WORK/nsd"
	subst "$BENCH/nsd/nsd.conf" "$WORK/nsd/nsd.conf" nsd
	cp "$BENCH/zones/example.test.zone" "$WORK/nsd/example.test.zone"
	taskset -c "$SCPU" nsd -d -c "$WORK/nsd/nsd.conf" >"$WORK/nsd.log" 2>&1 &
	PID[nsd]=$!
}

# Workloads: query file and extra dnsperf flags. NSD serves the static zone
# only, so it runs the workloads that need no GSLB. The signed servers run
# only geo-ecs-do (what they add is signing; the rest would repeat godwit and
# pdns), the unsigned ones all but geo-ecs-do (on an unsigned zone DO changes
# nothing), godwit-wildcard static and geo-ecs (the listen address is all
# that differs from godwit).
wl_file() {
	case $1 in
	static | tcp) echo "$BENCH/queries/static.txt" ;;
	geo-ecs | geo-ecs-do | geo) echo "$BENCH/queries/geo.txt" ;;
	weighted) echo "$BENCH/queries/weighted.txt" ;;
	nxdomain) echo "$BENCH/queries/nxdomain.txt" ;;
	esac
}
wl_flags() {
	case $1 in
	geo-ecs) echo "-E $ECS" ;;
	geo-ecs-do) echo "-E $ECS -D" ;;
	tcp) echo "-m tcp" ;;
	esac
}
wl_applies() { # SERVER WORKLOAD
	case $1 in
	nsd) case $2 in static | nxdomain | tcp) true ;; *) false ;; esac ;;
	godwit-signed | pdns-signed) [ "$2" = geo-ecs-do ] ;;
	godwit-wildcard) case $2 in static | geo-ecs) true ;; *) false ;; esac ;;
	*) [ "$2" != geo-ecs-do ] ;;
	esac
}
# sweep_applies SERVER: the servers in the CPU-per-query sweep (geo-ecs), all
# that serve it but godwit-wildcard: its comparison is the fixed-rate one,
# and the sweep is the longest part of the run.
sweep_applies() {
	[ "$1" != godwit-wildcard ] && wl_applies "$1" geo-ecs
}
wl_title() {
	case $1 in
	static) echo "static records mix (UDP)" ;;
	geo-ecs) echo "geo service, with ECS (81.2.69.142/32, London)" ;;
	geo-ecs-do) echo "geo service, with ECS and the DO bit (signed servers only)" ;;
	geo) echo "geo service, no ECS (127.0.0.1: not in the DB, fallback)" ;;
	weighted) echo "weighted service" ;;
	nxdomain) echo "NXDOMAIN-heavy (90% random names)" ;;
	tcp) echo "static records mix over TCP, pipelined (-m tcp, 4 connections, 200 outstanding)" ;;
	esac
}

# dnsperf_stat FILE KEY: a number from dnsperf's summary.
dnsperf_stat() {
	awk -v k="$2" 'index($0, k) { sub(/^.*: */, ""); print $1; exit }' "$1"
}

# measure SERVER WORKLOAD ROUND RATE: one closed-loop run and, when RATE > 0,
# one fixed-rate run (RATE -1: half of the closed-loop max); prints a TSV line
# for results.tsv.
measure() {
	local s=$1 w=$2 r=$3 rate=$4 file flags t0 t1 out lat
	file=$(wl_file "$w")
	flags=$(wl_flags "$w")
	out=$WORK/dnsperf.out

	t0=$(cpu_ticks "${PID[$s]}")
	# shellcheck disable=SC2086
	taskset -c "$CCPU" dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$file" $flags \
		-c 4 -T 1 -q 200 -l "$SECS" >"$out" 2>&1
	t1=$(cpu_ticks "${PID[$s]}")
	local mqps mdone mlost mus
	mqps=$(dnsperf_stat "$out" "Queries per second")
	mdone=$(dnsperf_stat "$out" "Queries completed")
	mlost=$(dnsperf_stat "$out" "Queries lost")
	mus=$(awk -v t=$((t1 - t0)) -v n="$mdone" 'BEGIN { printf "%.1f", (n > 0 ? t * 10000 / n : 0) }')

	if [ "$rate" -lt 0 ]; then
		# Godwit in round 1: half of this closed-loop max sets the fixed rate.
		rate=${BENCH_RATE:-$(awk -v q="$mqps" 'BEGIN { printf "%d", q / 2 }')}
	fi
	local fqps="" fdone="" flost="" fus="" p50="" p99="" avg=""
	if [ "$rate" -gt 0 ]; then
		t0=$(cpu_ticks "${PID[$s]}")
		# shellcheck disable=SC2086
		taskset -c "$CCPU" dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$file" $flags \
			-c 4 -T 1 -q 200 -l "$SECS" -Q "$rate" -v >"$out" 2>&1
		t1=$(cpu_ticks "${PID[$s]}")
		fqps=$(dnsperf_stat "$out" "Queries per second")
		fdone=$(dnsperf_stat "$out" "Queries completed")
		flost=$(dnsperf_stat "$out" "Queries lost")
		avg=$(dnsperf_stat "$out" "Average Latency")
		fus=$(awk -v t=$((t1 - t0)) -v n="$fdone" 'BEGIN { printf "%.1f", (n > 0 ? t * 10000 / n : 0) }')
		lat=$WORK/lat.txt
		awk '/^> / { print $NF }' "$out" | sort -g >"$lat"
		read -r p50 p99 < <(awk '{ v[NR] = $1 } END {
			if (NR == 0) { print "- -"; exit }
			i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
			i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
			printf "%.3f %.3f\n", v[i50] * 1000, v[i99] * 1000 }' "$lat")
		avg=$(awk -v a="$avg" 'BEGIN { printf "%.3f", a * 1000 }')
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$r" "$s" "$w" "$mqps" "$mlost" "$mus" "$rate" "$fqps" "$flost" "$fus" "$p50" "$p99" "$avg" "$mdone"
}

# check_signed SERVER: before a signed server is measured, its geo answer
# (with ECS) carries an RRSIG over the A RRset, and delv validates the A and
# AAAA answers from the zone's own key (the trust anchor comes from the key
# files, not from the server). Prints what failed and returns 1 otherwise.
check_signed() {
	local s=$1 out q
	if [ ! -s "$WORK/$s.anchor" ]; then
		echo "no trust anchor: no KSK or CSK for gslb.test among the key files"
		return 1
	fi
	out=$(dig +dnssec +norec +time=1 +tries=2 @127.0.0.1 -p "${PORT[$s]}" geo.gslb.test A +subnet=81.2.69.142/32 2>&1)
	if ! grep -Eq '^geo\.gslb\.test\.[[:space:]].*RRSIG[[:space:]]+A[[:space:]]' <<<"$out"; then
		echo "dig +dnssec geo.gslb.test A (ECS 81.2.69.142/32) has no RRSIG over the A RRset:"
		sed -n '/^;; ->>HEADER/p; /ANSWER SECTION/,/^$/p' <<<"$out"
		return 1
	fi
	for q in A AAAA; do
		out=$(delv @127.0.0.1 -p "${PORT[$s]}" -a "$WORK/$s.anchor" +root=gslb.test geo.gslb.test "$q" 2>&1 || true)
		if ! grep -q '^; fully validated' <<<"$out"; then
			echo "delv does not validate geo.gslb.test $q against the zone's key:"
			head -5 <<<"$out"
			return 1
		fi
	done
}

# drop SERVER REASON: stop a server and leave it out of the run (and say so
# in the report).
drop() {
	log "run.sh: $1 is NOT measured: $2"
	SKIPPED[$1]=$2
	if [ -n "${PID[$1]:-}" ]; then
		kill "${PID[$1]}" 2>/dev/null || true
		wait "${PID[$1]}" 2>/dev/null || true
		unset "PID[$1]"
	fi
	local keep=() x
	for x in "${SERVERS[@]}"; do [ "$x" = "$1" ] || keep+=("$x"); done
	SERVERS=("${keep[@]}")
}

# --- start the servers ----------------------------------------------------
port=$PORT_BASE
for s in "${SERVERS[@]}"; do
	port=$((port + 1))
	PORT[$s]=$port
	# A start function that fails says why in WHY.
	WHY=""
	if ! "start_$s"; then
		drop "$s" "cannot start: $WHY"
	fi
done
for s in "${SERVERS[@]}"; do
	wait_ready "$s" example.test
	log "$s ready on 127.0.0.1:${PORT[$s]} (pid ${PID[$s]})"
	case $s in godwit*) log "$s: $(grep -m1 'dns: listening' "$WORK/$s.log" | grep -o 'addr=.*')" ;; esac
done
# Sanity: each GSLB server answers the geo name.
for s in "${SERVERS[@]}"; do
	[ "$s" = nsd ] && continue
	a=$(dig +short +time=1 +tries=1 @127.0.0.1 -p "${PORT[$s]}" geo.gslb.test A +subnet=81.2.69.142/32 | tr '\n' ' ')
	log "$s: geo.gslb.test A for 81.2.69.142: $a"
	[ -n "$a" ] || { echo "run.sh: $s does not answer geo.gslb.test" >&2; exit 1; }
done
# The signed servers: signed and valid, or not measured.
for s in "${SERVERS[@]}"; do
	case $s in godwit-signed | pdns-signed) ;; *) continue ;; esac
	if why=$(check_signed "$s"); then
		log "$s: geo.gslb.test carries RRSIGs (dig +dnssec, with ECS); A and AAAA fully validated (delv, trust anchor from the key files)"
	else
		drop "$s" "$(tr '\n' ' ' <<<"$why")"
	fi
done

# --- measure, alternating ---------------------------------------------------
RES=$WORK/results.tsv
: >"$RES"
declare -A RATE
for r in $(seq "$ROUNDS"); do
	order=("${SERVERS[@]}")
	if [ $((r % 2)) -eq 0 ]; then
		order=()
		for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do order+=("${SERVERS[$i]}"); done
	fi
	for w in "${WORKLOADS[@]}"; do
		# geo-ecs-do runs at geo-ecs's rate, so that the signed servers'
		# CPU per query compares with unsigned Godwit's at the same load.
		if [ "$w" = geo-ecs-do ] && [ -n "${RATE[geo-ecs]:-}" ]; then RATE[$w]=${RATE[geo-ecs]}; fi
		for s in "${order[@]}"; do
			wl_applies "$s" "$w" || continue
			rate=${RATE[$w]:-0}
			if [ -z "${RATE[$w]:-}" ]; then
				# Round 1's first server (Godwit; for geo-ecs-do without
				# geo-ecs, godwit-signed) sets the fixed rate.
				line=$(measure "$s" "$w" "$r" -1)
				RATE[$w]=$(cut -f7 <<<"$line")
				rate=${RATE[$w]}
			else
				line=$(measure "$s" "$w" "$r" "$rate")
			fi
			echo "$line" >>"$RES"
			log "round $r $w $s: $(cut -f4,6,8,10,11,12 <<<"$line" | tr '\t' ' ') (max qps, µs/q at max, qps, µs/q, p50 ms, p99 ms at $rate qps)"
		done
	done
done
# --- CPU per query against load (geo + ECS) -----------------------------------
# At each fixed rate, every server in turn (order alternating by round): the
# curve of server CPU µs per answered query against offered load.
SWEEP_RATES=(${BENCH_SWEEP-20000 40000 80000})
SWEEP=$WORK/sweep.tsv
: >"$SWEEP"
if [ "${#SWEEP_RATES[@]}" -gt 0 ]; then
	for r in $(seq "$ROUNDS"); do
		order=("${SERVERS[@]}")
		if [ $((r % 2)) -eq 0 ]; then
			order=()
			for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do order+=("${SERVERS[$i]}"); done
		fi
		for q in "${SWEEP_RATES[@]}"; do
			for s in "${order[@]}"; do
				sweep_applies "$s" || continue
				t0=$(cpu_ticks "${PID[$s]}")
				# shellcheck disable=SC2046
				taskset -c "$CCPU" dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$(wl_file geo-ecs)" $(wl_flags geo-ecs) \
					-c 4 -T 1 -q 200 -l "$SECS" -Q "$q" >"$WORK/sweep.out" 2>&1
				t1=$(cpu_ticks "${PID[$s]}")
				done_q=$(dnsperf_stat "$WORK/sweep.out" "Queries completed")
				got_qps=$(dnsperf_stat "$WORK/sweep.out" "Queries per second")
				us=$(awk -v t=$((t1 - t0)) -v n="$done_q" 'BEGIN { printf "%.2f", (n > 0 ? t * 10000 / n : 0) }')
				printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$s" "$q" "$got_qps" "$us" >>"$SWEEP"
				log "sweep round $r $s at $q qps: $got_qps qps, $us µs/q"
			done
		done
	done
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A RSS
for s in "${SERVERS[@]}"; do RSS[$s]=$(peak_rss_kb "${PID[$s]}"); done
# godwit-signed's own counters after the run: signatures made (cache misses)
# against cache hits and signed responses.
SIGNMETRICS=$WORK/sign-metrics.txt
: >"$SIGNMETRICS"
if [ -n "${PID[godwit-signed]:-}" ]; then
	url=$(grep -o -m1 'status page on http://[^ ]*' "$WORK/godwit-signed.log" | sed 's/^status page on //')
	if [ -n "$url" ] && curl -sf --max-time 5 "${url%/}/metrics" >"$WORK/metrics.txt"; then
		{
			grep -E '^godwit_dnssec_(signatures|cache_hits|signed_responses|sign_errors|signing_errors)_total' "$WORK/metrics.txt" || true
			awk '/^godwit_dns_queries_total/ { n += $NF } END { printf "godwit_dns_queries_total (all labels) %.0f\n", n }' "$WORK/metrics.txt"
		} >"$SIGNMETRICS"
	fi
fi

# --- where Godwit's time goes -------------------------------------------------
# perf samples the server for 5 s while dnsperf drives the geo + ECS workload
# closed loop; the report lists the hottest functions (self time).
PROFILE=$WORK/profile.txt
if [ "${BENCH_PROFILE:-1}" = 1 ] && command -v perf >/dev/null 2>&1; then
	log "profiling godwit (perf, 5 s, geo + ECS closed loop)"
	# shellcheck disable=SC2046
	taskset -c "$CCPU" dnsperf -s 127.0.0.1 -p "${PORT[godwit]}" -d "$(wl_file geo-ecs)" $(wl_flags geo-ecs) \
		-c 4 -T 1 -q 200 -l 7 >/dev/null 2>&1 &
	perfload=$!
	sleep 1
	if perf record -q -F 997 -p "${PID[godwit]}" -o "$WORK/perf.data" -- sleep 5 >/dev/null 2>&1; then
		perf report -i "$WORK/perf.data" --stdio --no-children --sort symbol --percent-limit 0.4 2>/dev/null |
			awk '$2 == "[k]" || $2 == "[.]" { printf "%7s %s %s\n", $1, $2, $3 }' >"$WORK/perf.txt" || true
		{
			echo "# kernel [k] and user [.] together, top 12"
			head -12 "$WORK/perf.txt"
			echo "# user space [.] only (Go runtime, miekg/dns, godwit), top 25"
			grep -F '[.]' "$WORK/perf.txt" | head -25
			awk '{ sub(/%/, "", $1); t[$2] += $1 } END { printf "# listed: kernel %.0f%%, user %.0f%%\n", t["[k]"], t["[.]"] }' "$WORK/perf.txt"
		} >"$PROFILE"
	fi
	wait "$perfload" || true
fi

# --- Go benchmarks ----------------------------------------------------------
GOBENCH=$WORK/gobench.txt
if [ -n "${BENCH_GO_OUTPUT:-}" ]; then
	# make bench ran the Go benchmarks already (before the servers started).
	cp "$BENCH_GO_OUTPUT" "$GOBENCH"
elif [ "${BENCH_GO:-1}" = 1 ]; then
	# Stop the servers first so that they do not share the CPU.
	cleanup_servers() { for s in "${!PID[@]}"; do kill "${PID[$s]}" 2>/dev/null || true; wait "${PID[$s]}" 2>/dev/null || true; unset "PID[$s]"; done; }
	cleanup_servers
	log "go test -run '^\$' -bench . -benchmem ./zones ./geo ./routes ./dns ./dnssec"
	(cd "$ROOT" && go test -run '^$' -bench . -benchmem ./zones ./geo ./routes ./dns ./dnssec) >"$GOBENCH" 2>&1 || log "go benchmarks failed; see the report"
fi

# --- report -------------------------------------------------------------------
version() {
	case $1 in
	godwit) echo "$("$GODWIT" version 2>/dev/null | head -1) (binary built $GODWIT_TIME, sha256 $GODWIT_SUM)" ;;
	godwit-portable) echo "the same binary with [server] io = \"portable\"" ;;
	godwit-wildcard) echo "the same binary and config listening on 0.0.0.0:PORT (queries to 127.0.0.1)" ;;
	godwit-signed) echo "the same binary and config plus [dnssec] keys_dir: gslb.test signed online, one CSK from $(dnssec-keygen -V 2>/dev/null | head -1 | awk '{print $1, $2}') -a 13 (ECDSA P-256)" ;;
	gdnsd) echo "gdnsd $(dpkg-query -W -f '${Version}' gdnsd 2>/dev/null)" ;;
	pdns) echo "PowerDNS Authoritative $(dpkg-query -W -f '${Version}' pdns-server 2>/dev/null) (bind + geoip backends)" ;;
	pdns-signed) echo "the same PowerDNS, gslb.test signed online by the geoip backend (geoip-dnssec-keydir, pdnsutil secure-zone: one CSK, ECDSA P-256)" ;;
	nsd) echo "NSD $(dpkg-query -W -f '${Version}' nsd 2>/dev/null)" ;;
	esac
}

# mean SERVER WORKLOAD COLUMN: the mean of a results.tsv column over rounds.
mean() {
	awk -F'\t' -v s="$1" -v w="$2" -v c="$3" '$2 == s && $3 == w && $c != "" { n++; t += $c }
		END { if (n) printf "%.6g\n", t / n }' "$RES"
}
# ratio WORKLOAD OTHER COLUMN: Godwit's mean over OTHER's.
ratio() { ratio2 godwit "$1" "$2" "$1" "$3"; }
# ratio2 SERVER WORKLOAD OTHER OTHER_WORKLOAD COLUMN: SERVER's mean over OTHER's.
ratio2() {
	local g o
	g=$(mean "$1" "$2" "$5")
	o=$(mean "$3" "$4" "$5")
	if [ -n "$g" ] && [ -n "$o" ]; then
		awk -v g="$g" -v o="$o" 'BEGIN { if (o > 0) printf "%.4f\n", g / o }'
	fi
}

# wl_on SERVER WORKLOAD: SERVER was measured on WORKLOAD in this run.
wl_on() { awk -F'\t' -v s="$1" -v w="$2" '$2 == s && $3 == w { f = 1 } END { exit !f }' "$RES"; }

# signed_section: the DNSSEC part of the report.
signed_section() {
	local s w kind
	echo "### Signed answers (DNSSEC, issue #17)"
	echo
	echo "gslb.test signed online with one CSK, ECDSA P-256 (algorithm 13), made at the start of"
	echo "the run: **godwit-signed** is Godwit's config plus \`[dnssec] keys_dir\` (\`dnssec-keygen -a 13"
	echo "-f KSK -n ZONE gslb.test\`), **pdns-signed** PowerDNS's geoip backend with"
	echo "\`geoip-dnssec-keydir\` (\`pdnsutil secure-zone gslb.test\`). Both run the geo + ECS queries"
	echo "with the DO bit (\`-E $ECS -D\`, workload geo-ecs-do) at the geo-ecs fixed rate"
	echo "(${RATE[geo-ecs-do]:-?} qps); the unsigned rows are the geo-ecs workload (no DO) of the"
	echo "same run. Mean over $ROUNDS rounds, columns as above."
	echo
	echo "| server | answers | max qps | CPU µs/q at max | CPU µs/q at fixed rate | p50 ms | p99 ms | lost |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for s in godwit godwit-signed pdns pdns-signed; do
		case $s in *-signed) w=geo-ecs-do kind="signed (geo-ecs-do)" ;; *) w=geo-ecs kind="unsigned (geo-ecs)" ;; esac
		if [ -n "${SKIPPED[$s]:-}" ]; then
			echo "| $s | $kind | not measured | | | | | |"
			continue
		fi
		wl_on "$s" "$w" || continue
		awk -F'\t' -v s="$s" -v w="$w" -v k="$kind" '$2 == s && $3 == w {
			n++; mq += $4; mu += $6; fu += $10; p50 += $11; p99 += $12; lost += $5 + $9 }
			END { printf "| %s | %s | %.0f | %.1f | %.1f | %.3f | %.3f | %d |\n",
				s, k, mq/n, mu/n, fu/n, p50/n, p99/n, lost }' "$RES"
	done
	echo
	for s in godwit-signed pdns-signed; do
		if [ -n "${SKIPPED[$s]:-}" ]; then
			echo "- $s: **not measured**: ${SKIPPED[$s]}"
		elif wl_on "$s" geo-ecs-do; then
			echo "- $s: before it was measured, \`dig +dnssec\` showed an RRSIG over geo.gslb.test A (with ECS)"
			echo "  and \`delv -a ANCHOR +root=gslb.test\` fully validated geo.gslb.test A and AAAA, the trust"
			echo "  anchor taken from the key files."
		fi
	done
	echo
	if [ -s "$GOBENCH" ] && grep -Eq '^Benchmark(SignMiss|SignHit|SignAddrsHit|SignedFastPath)' "$GOBENCH"; then
		echo "What a signature costs, from the Go benchmarks below: a cache miss is one signature"
		echo "(\`BenchmarkSignMiss\`, ECDSA P-256 and Ed25519, over a two-record A RRset); a hit is the"
		echo "cache lookup (\`BenchmarkSignHit\`, \`BenchmarkSignAddrsHit\` for a GSLB answer);"
		echo "\`BenchmarkSignedFastPath\` is the whole UDP fast-path answer unsigned (do=false) and signed"
		echo "from the cache (do=true). Online signing pays the miss once per distinct answer RRset and"
		echo "refresh period (half the signature validity), then hits."
		echo
		echo "| Go benchmark | µs/op | B/op | allocs/op |"
		echo "|---|---:|---:|---:|"
		grep -E '^Benchmark(SignMiss|SignHit|SignAddrsHit|SignedFastPath)' "$GOBENCH" | awk '{
			ns = b = a = ""
			for (i = 2; i <= NF; i++) {
				if ($i == "ns/op") ns = $(i - 1)
				if ($i == "B/op") b = $(i - 1)
				if ($i == "allocs/op") a = $(i - 1)
			}
			printf "| %s | %.3f | %s | %s |\n", $1, ns / 1000, b, a }'
		echo
	else
		echo "(No DNSSEC Go benchmark output in this run: \`go test -run '^\$' -bench Sign ./dnssec ./dns\`.)"
		echo
	fi
	if [ -s "$SIGNMETRICS" ]; then
		echo "godwit-signed's \`/metrics\` at the end of the measurements (signatures made are the cache"
		echo "misses):"
		echo
		echo '```'
		cat "$SIGNMETRICS"
		echo '```'
		echo
	fi
}

# The sections of $OUT from the first "## Large data" heading on, kept.
if [ -f "$OUT" ]; then
	awk '/^## Large data/ { keep = 1 } keep' "$OUT" >"$WORK/large-sections"
fi
{
	cat <<EOF
# Benchmarks

Generated by \`make bench\` (\`testdata/bench/run.sh\`) on $(date -u '+%Y-%m-%d %H:%M UTC').
Absolute figures drift between runs and machines; the ratios, measured in one run
with the servers alternating, are what to compare. See the method below.

## Machine

- CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs online
- kernel: $(uname -sr)
- load generator: dnsperf $(dpkg-query -W -f '${Version}' dnsperf 2>/dev/null)
- servers:
EOF
	for s in "${SERVERS[@]}"; do echo "  - $s: $(version "$s")"; done
	for s in "${!SKIPPED[@]}"; do echo "  - $s: **not measured**: ${SKIPPED[$s]}"; done
	cat <<EOF
- run: $ROUNDS rounds of $SECS s per measurement, server on CPU $SCPU, dnsperf on CPU $CCPU
- load average (1, 5, 15 min) at the start: $LOAD_START; at the end: $LOAD_END
  (anything above ~1 means other work shared the two CPUs and the qps figures are noisy)

## Results

Per workload, the mean over $ROUNDS rounds. **max qps**: closed loop (dnsperf
\`-c 4 -T 1 -q 200\`); dnsperf itself tops out around 120–135k qps on this machine,
so above ~110k qps the figure says more about dnsperf than about the server.
**CPU µs/q**: server CPU (utime+stime of its processes) per answered query at the
fixed offered rate, half of Godwit's round-1 max qps for that workload: the
primary figure. **p50/p99**: latency percentiles of every query at that rate
(dnsperf \`-v\`). **lost**: queries lost, closed loop + fixed rate, all rounds.

EOF
	for w in "${WORKLOADS[@]}"; do
		awk -F'\t' -v w="$w" '$3 == w { f = 1 } END { exit !f }' "$RES" || continue
		echo "### $(wl_title "$w")"
		echo
		echo "Fixed rate: ${RATE[$w]:-?} qps."
		echo
		echo "| server | max qps | CPU µs/q at max | CPU µs/q at fixed rate | p50 ms | p99 ms | avg ms | lost |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|"
		for s in "${SERVERS[@]}"; do
			wl_applies "$s" "$w" || continue
			awk -F'\t' -v s="$s" -v w="$w" '$2 == s && $3 == w {
				n++; mq += $4; mu += $6; fu += $10; p50 += $11; p99 += $12; av += $13; lost += $5 + $9 }
				END { if (n) printf "| %s | %.0f | %.1f | %.1f | %.3f | %.3f | %.3f | %d |\n",
					s, mq/n, mu/n, fu/n, p50/n, p99/n, av/n, lost }' "$RES"
		done
		echo
	done

	echo "### Ratios (Godwit / other; qps: higher is better for Godwit, CPU µs/q: lower is better)"
	echo
	echo "| workload | vs | qps ratio | CPU µs/q ratio | p99 Godwit / other |"
	echo "|---|---|---:|---:|---:|"
	for w in "${WORKLOADS[@]}"; do
		for s in "${SERVERS[@]}"; do
			[ "$s" = godwit ] && continue
			wl_applies "$s" "$w" || continue
			awk -F'\t' -v s="$s" -v w="$w" '$3 == w && ($2 == s || $2 == "godwit") {
				n[$2]++; q[$2] += $4; u[$2] += $10; p[$2] += $12 }
				END { if (n[s] && n["godwit"] && q[s] && u[s] && p[s])
					printf "| %s | %s | %.2f | %.2f | %.2f |\n", w, s,
						(q["godwit"]/n["godwit"]) / (q[s]/n[s]),
						(u["godwit"]/n["godwit"]) / (u[s]/n[s]),
						(p["godwit"]/n["godwit"]) / (p[s]/n[s]) }' "$RES"
		done
	done
	echo
	echo "### Targets (issue \"Performance\")"
	echo
	echo "| target | measured | met |"
	echo "|---|---:|---|"
	target() { # LABEL VALUE OP LIMIT
		[ -n "$2" ] || { echo "| $1 | not measured | — |"; return; }
		awk -v l="$1" -v v="$2" -v op="$3" -v lim="$4" 'BEGIN {
			ok = (op == ">=") ? (v >= lim) : (v <= lim)
			printf "| %s | %.2f | %s |\n", l, v, ok ? "yes" : "**no**" }'
	}
	target "geo + ECS: qps Godwit / gdnsd ≥ 1.0" "$(ratio geo-ecs gdnsd 4)" ">=" 1.0
	target "geo + ECS: CPU µs/q Godwit / gdnsd ≤ 1.0" "$(ratio geo-ecs gdnsd 10)" "<=" 1.0
	target "static: qps Godwit / NSD ≥ 0.9" "$(ratio static nsd 4)" ">=" 0.9
	target "static: CPU µs/q Godwit / NSD ≤ 1.0" "$(ratio static nsd 10)" "<=" 1.0
	target "TCP pipelined: qps Godwit / gdnsd ≥ 1.0" "$(ratio tcp gdnsd 4)" ">=" 1.0
	target "geo + ECS: qps Godwit / PowerDNS geoip ≥ 2.0" "$(ratio geo-ecs pdns 4)" ">=" 2.0
	target "signed: CPU µs/q godwit-signed (geo-ecs-do) / Godwit unsigned (geo-ecs) ≤ 1.25" "$(ratio2 godwit-signed geo-ecs-do godwit geo-ecs 10)" "<=" 1.25
	target "signed: qps godwit-signed / pdns-signed (geo-ecs-do) ≥ 2.0" "$(ratio2 godwit-signed geo-ecs-do pdns-signed geo-ecs-do 4)" ">=" 2.0
	target "wildcard listen, static: CPU µs/q godwit-wildcard / Godwit ≤ 1.05" "$(ratio2 godwit-wildcard static godwit static 10)" "<=" 1.05
	target "wildcard listen, geo + ECS: CPU µs/q godwit-wildcard / Godwit ≤ 1.05" "$(ratio2 godwit-wildcard geo-ecs godwit geo-ecs 10)" "<=" 1.05
	for w in "${WORKLOADS[@]}"; do
		wl_applies godwit "$w" || continue
		target "$w: Godwit p99 ms at half its max ≤ 1.0" "$(mean godwit "$w" 12)" "<=" 1.0
	done
	echo
	if wl_on godwit-signed geo-ecs-do || wl_on pdns-signed geo-ecs-do || [ "${#SKIPPED[@]}" -gt 0 ]; then
		signed_section
	fi
	if [ -s "$SWEEP" ]; then
		echo "### CPU per query against load (geo + ECS, fixed rates)"
		echo
		echo "Server CPU µs per answered query at each offered rate, mean over $ROUNDS rounds (servers"
		echo "alternating); the ratio is Godwit's over each other server's at the same rate."
		echo
		printf '| rate |'
		for s in "${SERVERS[@]}"; do sweep_applies "$s" && printf ' %s qps | %s µs/q |' "$s" "$s"; done
		for s in "${SERVERS[@]}"; do [ "$s" != godwit ] && sweep_applies "$s" && printf ' Godwit / %s |' "$s"; done
		echo
		printf '|---:|'
		for s in "${SERVERS[@]}"; do sweep_applies "$s" && printf -- '---:|---:|'; done
		for s in "${SERVERS[@]}"; do [ "$s" != godwit ] && sweep_applies "$s" && printf -- '---:|'; done
		echo
		for q in "${SWEEP_RATES[@]}"; do
			printf '| %s |' "$q"
			for s in "${SERVERS[@]}"; do
				sweep_applies "$s" || continue
				awk -F'\t' -v s="$s" -v q="$q" '$2 == s && $3 == q { n++; a += $4; u += $5 }
					END { if (n) printf " %.0f | %.2f |", a/n, u/n; else printf " - | - |" }' "$SWEEP"
			done
			for s in "${SERVERS[@]}"; do
				[ "$s" != godwit ] && sweep_applies "$s" || continue
				awk -F'\t' -v s="$s" -v q="$q" '$3 == q && ($2 == s || $2 == "godwit") { n[$2]++; u[$2] += $5 }
					END { if (n[s] && n["godwit"] && u[s] > 0) printf " %.2f |", (u["godwit"]/n["godwit"]) / (u[s]/n[s]); else printf " - |" }' "$SWEEP"
			done
			echo
		done
		echo
	fi
	echo "### Peak RSS (VmHWM over the whole run, summed over the server's processes)"
	echo
	echo "| server | peak RSS MiB |"
	echo "|---|---:|"
	for s in "${SERVERS[@]}"; do
		awk -v s="$s" -v k="${RSS[$s]}" 'BEGIN { printf "| %s | %.1f |\n", s, k / 1024 }'
	done
	echo
	echo "### Every measurement"
	echo
	echo "| round | server | workload | max qps | lost | CPU µs/q at max | rate | qps | lost | CPU µs/q | p50 ms | p99 ms |"
	echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk -F'\t' '{ printf "| %s | %s | %s | %.0f | %s | %s | %s | %.0f | %s | %s | %s | %s |\n",
		$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 }' "$RES"
	echo
	cat "$BENCH/METHOD.md"
	echo
	echo '```'
	for w in "${WORKLOADS[@]}"; do
		echo "# $w: closed loop, then at a fixed rate"
		echo "taskset -c $CCPU dnsperf -s 127.0.0.1 -p PORT -d testdata/bench/queries/$(basename "$(wl_file "$w")") $(wl_flags "$w") -c 4 -T 1 -q 200 -l $SECS"
		echo "taskset -c $CCPU dnsperf -s 127.0.0.1 -p PORT -d testdata/bench/queries/$(basename "$(wl_file "$w")") $(wl_flags "$w") -c 4 -T 1 -q 200 -l $SECS -Q ${RATE[$w]:-RATE} -v"
	done
	echo "GOMAXPROCS=${BENCH_GODWIT_GOMAXPROCS:-2} taskset -c $SCPU bin/godwit serve -config testdata/bench/godwit.toml -listen 127.0.0.1:PORT -status-listen 127.0.0.1:0"
	echo "# godwit-wildcard: the same with -listen 0.0.0.0:PORT"
	echo "# godwit-signed: the same config plus [dnssec] keys_dir = KEYS, where"
	echo "(cd KEYS && dnssec-keygen -a 13 -f KSK -n ZONE gslb.test)"
	echo "taskset -c $SCPU gdnsd -c DIR start            # DIR/config = testdata/bench/gdnsd/config"
	echo "taskset -c $SCPU pdns_server --config-dir=DIR  # DIR/pdns.conf = testdata/bench/pdns/pdns.conf"
	echo "# pdns-signed: DIR/pdns.conf plus geoip-dnssec-keydir=DIR/keys, then"
	echo "pdnsutil --config-dir=DIR secure-zone gslb.test"
	echo "# before measuring a signed server (ANCHOR: trust-anchors { gslb.test. static-key 257 3 13 \"...\"; }; from the key):"
	echo "dig +dnssec @127.0.0.1 -p PORT geo.gslb.test A +subnet=81.2.69.142/32   # RRSIG over the A RRset"
	echo "delv @127.0.0.1 -p PORT -a ANCHOR +root=gslb.test geo.gslb.test A       # ; fully validated (and AAAA)"
	echo "taskset -c $SCPU nsd -d -c DIR/nsd.conf        # testdata/bench/nsd/nsd.conf"
	echo '```'
	if [ -s "$GOBENCH" ]; then
		echo
		echo "## Go benchmarks"
		echo
		echo "\`go test -run '^\$' -bench . -benchmem\` (same machine, not while the servers run):"
		echo
		echo '```'
		grep -E '^(goos|goarch|cpu|pkg|Benchmark|ok|FAIL|---)' "$GOBENCH"
		echo '```'
	fi
	if [ -s "$PROFILE" ]; then
		echo
		echo "## Where Godwit's time goes"
		echo
		echo "\`perf record -F 997 -p PID -- sleep 5\` while dnsperf drives the geo + ECS workload"
		echo "closed loop, \`perf report --no-children --sort symbol\` (self time, symbols ≥ 0.4%):"
		echo
		echo '```'
		cat "$PROFILE"
		echo '```'
	fi
	if [ -f "$BENCH/NOTES.md" ]; then
		echo
		cat "$BENCH/NOTES.md"
	fi
	# make bench-large's sections ("## Large data…", written by
	# testdata/bench/large) are not this run's: keep them as they are.
	if [ -s "$WORK/large-sections" ]; then
		echo
		cat "$WORK/large-sections"
	fi
} >"$WORK/report"
mv "$WORK/report" "$OUT"
log "wrote $OUT"
