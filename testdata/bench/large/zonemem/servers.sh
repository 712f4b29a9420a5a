#!/usr/bin/env bash
# NSD and Godwit on the same large zone, measured the same way, one after the
# other: time from start until the server answers a name of the zone (the
# median of ZONEMEM_STARTS starts of each, default 5, alternating), RSS
# (summed over the server's processes) and PSS after loading, peak RSS while a
# reload runs (a record appended to the zone file: SIGHUP for NSD, Godwit's
# own file watch) and RSS 60 s after the reload. Loopback only; each server is
# stopped by its PID. Prints one markdown table row per server:
#
#	testdata/bench/large/zonemem/servers.sh ZONEFILE [PORT] [GODWIT]
#
# | server | answering after, s (median of ZONEMEM_STARTS starts, alternating; range) | RSS after load, MiB | PSS | reload peak, MiB (×) | RSS 60 s after, MiB (×) |
set -euo pipefail
ZONE=$1
PORT=${2:-15499}
GODWIT=${3:-bin/godwit}
WAIT_AFTER=${ZONEMEM_WAIT:-60}
WORK=$(mktemp -d /tmp/zonemem-servers.XXXXXX)
PID=
cleanup() {
	[ -z "$PID" ] || kill "$PID" 2>/dev/null || true
	[ -z "$PID" ] || wait "$PID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

tree_pids() {
	local c
	echo "$1"
	for c in $(pgrep -P "$1" || true); do tree_pids "$c"; done
}
# rss_kb PID: VmRSS summed over the process tree.
rss_kb() {
	local total=0 p v
	for p in $(tree_pids "$1"); do
		v=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
		total=$((total + ${v:-0}))
	done
	echo "$total"
}
# pss_kb PID: Pss summed over the process tree (NSD's forked server shares
# most of its pages with the parent, so summed RSS counts them twice).
pss_kb() {
	local total=0 p v
	for p in $(tree_pids "$1"); do
		v=$(awk '$1 == "Pss:" { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
		total=$((total + ${v:-0}))
	done
	echo "$total"
}
answers() { dig +time=1 +tries=1 -p "$PORT" @127.0.0.1 "$1" A 2>/dev/null | grep -q 'status: NOERROR'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# measure NAME: start the server set up in $WORK/NAME, then the figures.
# setup writes the server's config and a copy of the zone in $WORK/name.
setup() {
	local name=$1
	rm -rf "${WORK:?}/$name"
	mkdir -p "$WORK/$name"
	cp "$ZONE" "$WORK/$name/big.test.zone"
	case $name in
	nsd)
		cat >"$WORK/nsd/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@$PORT
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonesdir: "$WORK/nsd"
  zonelistfile: "$WORK/nsd/zone.list"
  xfrdfile: "$WORK/nsd/xfrd.state"
  pidfile: "$WORK/nsd/nsd.pid"
  logfile: "$WORK/nsd/nsd.log"
  verbosity: 1
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: "big.test"
  zonefile: "big.test.zone"
CONF
		;;
	godwit)
		cat >"$WORK/godwit/godwit.toml" <<CONF
[server]
listen = ["127.0.0.1:$PORT"]

[status]
listen = "127.0.0.1:0"

[zones]
dir = "$WORK/godwit"
CONF
		;;
	esac
}

# start starts the server set up in $WORK/name, sets PID and waits until it
# answers; STARTED is then the milliseconds that took.
start() {
	local name=$1 t0
	t0=$(date +%s%3N)
	case $name in
	nsd) nsd -d -c "$WORK/nsd/nsd.conf" & ;;
	godwit) "$GODWIT" serve -config "$WORK/godwit/godwit.toml" >"$WORK/godwit/log" 2>&1 & ;;
	esac
	PID=$!
	until answers h1.big.test.; do
		kill -0 "$PID" 2>/dev/null || { echo "servers.sh: $name exited" >&2; cat "$WORK/$name"/*log* >&2 || true; exit 1; }
		sleep 0.01
	done
	STARTED=$(($(date +%s%3N) - t0))
}

stop() {
	kill "$PID"
	wait "$PID" 2>/dev/null || true
	PID=
}

# Start-up times vary by a third from one run to the next on a shared VM:
# each server is started STARTS times, alternating, and the median counts.
STARTS=${ZONEMEM_STARTS:-5}
declare -A STARTMS
for _ in $(seq "$STARTS"); do
	for s in ${ZONEMEM_SERVERS:-nsd godwit}; do
		setup "$s"
		start "$s"
		STARTMS[$s]+="$STARTED "
		stop
	done
done
median_s() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] / 1000 }'; }
range_s() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f–%.2f", lo / 1000, hi / 1000 }'; }

measure() {
	local name=$1 before pss peak end r after
	setup "$name"
	start "$name"
	sleep 2
	before=$(rss_kb "$PID")
	pss=$(pss_kb "$PID")
	echo "h999999x IN A 192.0.2.1" >>"$WORK/$name/big.test.zone"
	[ "$name" = nsd ] && kill -HUP "$PID"
	peak=$before
	end=$(($(date +%s) + 60))
	while [ "$(date +%s)" -lt "$end" ]; do
		r=$(rss_kb "$PID")
		[ "$r" -le "$peak" ] || peak=$r
		answers h999999x.big.test. && break
		sleep 0.05
	done
	answers h999999x.big.test. || { echo "servers.sh: $name did not load the changed zone within 60 s" >&2; exit 1; }
	# the old generation may still be freed after the new one answers
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		r=$(rss_kb "$PID")
		[ "$r" -le "$peak" ] || peak=$r
		sleep 0.2
	done
	sleep "$WAIT_AFTER"
	after=$(rss_kb "$PID")
	printf '| %s | %s | %d | %d | %d (%s×) | %d (%s×) |\n' "$name" \
		"$(median_s "${STARTMS[$name]}") ($(range_s "${STARTMS[$name]}"))" \
		$((before / 1024)) $((pss / 1024)) $((peak / 1024)) "$(ratio "$peak" "$before")" \
		$((after / 1024)) "$(ratio "$after" "$before")"
	stop
}

for s in ${ZONEMEM_SERVERS:-nsd godwit}; do measure "$s"; done
