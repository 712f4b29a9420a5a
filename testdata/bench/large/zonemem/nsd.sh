#!/usr/bin/env bash
# NSD on the same large zone, for comparison with zonemem's figures: time
# from start until it answers, RSS (summed over NSD's processes) after
# loading, peak RSS during a reload (a record appended, SIGHUP) and RSS 60 s
# after it. Loopback only; NSD is stopped by its PID.
#
#	testdata/bench/large/zonemem/nsd.sh ZONEFILE [PORT]
set -euo pipefail
ZONE=$1
PORT=${2:-15499}
WORK=$(mktemp -d /tmp/zonemem-nsd.XXXXXX)
PID=
cleanup() {
	[ -z "$PID" ] || kill "$PID" 2>/dev/null || true
	[ -z "$PID" ] || wait "$PID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
cp "$ZONE" "$WORK/big.test.zone"
cat >"$WORK/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@$PORT
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonesdir: "$WORK"
  zonelistfile: "$WORK/zone.list"
  xfrdfile: "$WORK/xfrd.state"
  pidfile: "$WORK/nsd.pid"
  logfile: "$WORK/nsd.log"
  verbosity: 1
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: "big.test"
  zonefile: "big.test.zone"
CONF
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
answers() { dig +time=1 +tries=1 -p "$PORT" @127.0.0.1 h1.big.test. A 2>/dev/null | grep -q 'status: NOERROR'; }

t0=$(date +%s%3N)
nsd -d -c "$WORK/nsd.conf" &
PID=$!
until answers; do sleep 0.05; done
t1=$(date +%s%3N)
sleep 2
before=$(rss_kb "$PID")
echo "nsd: answering after $(( t1 - t0 )) ms; RSS after load $(( before / 1024 )) MiB (summed), PSS $(( $(pss_kb "$PID") / 1024 )) MiB"
echo "h999999x IN A 192.0.2.1" >>"$WORK/big.test.zone"
kill -HUP "$PID"
peak=$before
end=$(( $(date +%s) + 30 ))
while [ "$(date +%s)" -lt "$end" ]; do
	r=$(rss_kb "$PID")
	[ "$r" -le "$peak" ] || peak=$r
	if dig +time=1 +tries=1 -p "$PORT" @127.0.0.1 h999999x.big.test. A 2>/dev/null | grep -q 'status: NOERROR'; then break; fi
	sleep 0.05
done
t2=$(date +%s)
echo "nsd: reload peak RSS $(( peak / 1024 )) MiB ($(awk -v a="$peak" -v b="$before" 'BEGIN { printf "%.2f", a / b }')x)"
sleep 60
after=$(rss_kb "$PID")
echo "nsd: 60 s after the reload RSS $(( after / 1024 )) MiB, PSS $(( $(pss_kb "$PID") / 1024 )) MiB ($(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a / b }')x)"
