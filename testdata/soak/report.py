#!/usr/bin/env python3
"""Summarises a soak run (run.sh): reads the samples and dnsperf's reports,
judges each criterion, prints the summary and writes docs/RELIABILITY.md.
Exit status 0 when every criterion passes, 1 otherwise."""
import argparse
import datetime
import os
import platform
import re
import statistics
import sys


def parse_dnsperf(path):
    text = open(path).read() if os.path.exists(path) else ""
    out = {"sent": 0, "completed": 0, "lost": 0, "rcodes": {}, "avg": None, "min": None,
           "max": None, "stddev": None, "qps": None, "raw": text}
    for key, pat in (("sent", r"Queries sent:\s+(\d+)"), ("completed", r"Queries completed:\s+(\d+)"),
                     ("lost", r"Queries lost:\s+(\d+)")):
        m = re.search(pat, text)
        if m:
            out[key] = int(m.group(1))
    m = re.search(r"Response codes:\s+(.*)", text)
    if m:
        for code, n in re.findall(r"([A-Z]+) (\d+) \(", m.group(1)):
            out["rcodes"][code] = int(n)
    m = re.search(r"Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)", text)
    if m:
        out["avg"], out["min"], out["max"] = (float(x) for x in m.groups())
    m = re.search(r"Latency StdDev \(s\):\s+([\d.]+)", text)
    if m:
        out["stddev"] = float(m.group(1))
    m = re.search(r"Queries per second:\s+([\d.]+)", text)
    if m:
        out["qps"] = float(m.group(1))
    return out


def percentiles(path, ps):
    """Percentiles (µs, upper bucket bounds) from run.sh's latency histogram."""
    if not os.path.exists(path):
        return {p: None for p in ps}
    h = []
    for line in open(path):
        b, n = line.split()
        h.append((int(b), int(n)))
    h.sort()
    total = sum(n for _, n in h)
    res = {}
    for p in ps:
        want, seen = total * p / 100, 0
        res[p] = None
        for b, n in h:
            seen += n
            if seen >= want:
                width = 10 if b < 1000 else 1000 if b < 100000 else 10000
                res[p] = b + width
                break
    return res


def slope_per_min(xs, ys):
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 0.0 if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den * 60


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs{mem}, Linux {platform.release()}"


def main():
    a = argparse.ArgumentParser()
    for f in ("samples", "plain", "ecs", "plain-hist", "ecs-hist", "out", "reload-failures", "bgp-up"):
        a.add_argument("--" + f, required=True)
    for f in ("warmup", "max-lost-ppm", "panics", "zone-rewrites", "health-transitions", "mmdb-swaps", "bird-restarts", "seconds",
              "qps", "ecs-qps", "flap", "zone-every", "mmdb-every", "bird-every"):
        a.add_argument("--" + f, type=float, required=True)
    a.add_argument("--other-dnsperf", type=float, default=0)  # older run.sh: other dnsperf at the start
    o = a.parse_args()

    rows = []
    for line in open(o.samples).read().splitlines()[1:]:
        f = line.split(",") + [None] * 3  # an older run.sh wrote no other_dnsperf, dropped, rcvbuf columns
        opt = [None if x is None else int(x) for x in f[5:8]]
        rows.append((int(f[0]), int(f[1]), float(f[2]), int(f[3]), int(f[4]), *opt))
    busy = sum(1 for r in rows if r[5])
    plain, ecs = parse_dnsperf(o.plain), parse_dnsperf(o.ecs)
    pp = percentiles(o.plain_hist, (50, 99, 99.9))
    pe = percentiles(o.ecs_hist, (50, 99, 99.9))

    steady = [r for r in rows if r[0] >= o.warmup] or rows
    third = max(1, len(steady) // 3)
    first, last = steady[:third], steady[-third:]
    rss_first, rss_last = statistics.fmean(r[1] for r in first), statistics.fmean(r[1] for r in last)
    gr_first, gr_last = statistics.fmean(r[2] for r in first), statistics.fmean(r[2] for r in last)
    rss_growth = (rss_last - rss_first) / rss_first * 100
    rss_slope = slope_per_min([r[0] for r in steady], [r[1] for r in steady])
    gr_slope = slope_per_min([r[0] for r in steady], [r[2] for r in steady])

    sent = plain["sent"] + ecs["sent"]
    lost = plain["lost"] + ecs["lost"]
    sf_metric = rows[-1][3] if rows else 0
    sf_perf = plain["rcodes"].get("SERVFAIL", 0) + ecs["rcodes"].get("SERVFAIL", 0)
    formerr = plain["rcodes"].get("FORMERR", 0) + ecs["rcodes"].get("FORMERR", 0)
    max_lost = sent * o.max_lost_ppm / 1e6
    crit = [
        ("queries answered", sent > 0 and lost <= max_lost,
         f"{lost} of {sent} lost ({lost / max(sent, 1) * 1e6:.1f} ppm; allowed {o.max_lost_ppm:g} ppm)"),
        ("no SERVFAIL", sf_metric == 0 and sf_perf == 0,
         f"godwit_dns_responses_total{{rcode=\"SERVFAIL\"}} +{sf_metric}, dnsperf saw {sf_perf}"),
        ("no FORMERR (well-formed load)", formerr == 0, f"{formerr}"),
        ("RSS flat", rss_growth < 10,
         f"{rss_first / 1024:.1f} → {rss_last / 1024:.1f} MiB ({rss_growth:+.1f} %, slope {rss_slope / 1024:+.3f} MiB/min; < 10 %)"),
        ("goroutines flat", gr_last - gr_first < 5,
         f"{gr_first:.1f} → {gr_last:.1f} ({gr_last - gr_first:+.1f}, slope {gr_slope:+.2f}/min; < +5)"),
        ("no panics", o.panics == 0, f"{o.panics:.0f}"),
        ("no reload failures", o.reload_failures == "0", f"{o.reload_failures}"),
        ("BGP route from BIRD in effect before the load", o.bgp_up == "yes", o.bgp_up),
        ("health flaps seen by godwit", o.health_transitions >= 2,
         f"{o.health_transitions:.0f} transitions (godwit_health_transitions_total)"),
    ]
    ok = all(c[1] for c in crit)

    def ms(x):
        return "n/a" if x is None else f"{x * 1000:.3f}"

    def us(x):
        return "n/a" if x is None else f"{x / 1000:.3f}"

    def na(x):
        return "n/a" if x is None else x

    def rc(d):
        return ", ".join(f"{k} {v}" for k, v in sorted(d["rcodes"].items())) or "n/a"

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cmd = (f"make soak  (SOAK_SECONDS={o.seconds:g}: dnsperf -Q {o.qps:g} -c 4 -T 1, plus dnsperf -Q {o.ecs_qps:g} -c 2 "
           f"-T 1 -E 8:000120005102458e)")
    L = []
    L.append("# Reliability: soak test\n")
    L.append("Generated by `make soak` (testdata/soak/run.sh, summarised by testdata/soak/report.py); "
             "the method is described at the end.\n")
    L.append(f"- **Result: {'PASS' if ok else 'FAIL'}**")
    L.append(f"- Date: {now}")
    L.append(f"- Machine: {machine()}")
    L.append(f"- Command: `{cmd}`")
    L.append(f"- Churn during the run: health backend flapping every {o.flap:g} s; zone rewritten every "
             f"{o.zone_every:g} s ({o.zone_rewrites:.0f} rewrites); GeoIP DB swapped every {o.mmdb_every:g} s "
             f"({o.mmdb_swaps:.0f} swaps); BIRD peer restarted every {o.bird_every:g} s ({o.bird_restarts:.0f} restarts)")
    if busy:
        L.append(f"- Other load on the machine: another dnsperf (the benchmark harness, `make bench`) was running in "
                 f"{busy} of {len(rows)} samples (column \"other dnsperf\" below); both shared the machine's CPUs, so "
                 "the latency figures are conservative.")
    elif o.other_dnsperf > 0:
        L.append(f"- Other load on the machine: {o.other_dnsperf:.0f} other dnsperf process(es) (the benchmark "
                 "harness) were running when the soak started; the latency figures are conservative.")
    L.append("")
    L.append("## Criteria\n")
    L.append("| criterion | result | figures |")
    L.append("|---|---|---|")
    for name, good, fig in crit:
        L.append(f"| {name} | {'pass' if good else '**FAIL**'} | {fig} |")
    L.append("")
    if rows and rows[-1][6] is not None:
        L.append(f"Unanswered queries, where they went: godwit dropped {rows[-1][6]} (`godwit_dns_dropped_total`: "
                 f"malformed, inflight limit, …); the kernel counted {rows[-1][7]} UDP receive-buffer overflows "
                 "(/proc/net/snmp RcvbufErrors, machine-wide: any other load's sockets count too) during the run; "
                 f"godwit sent {rows[-1][4] - rows[0][4]} responses after the first sample.\n")
    L.append("## Load\n")
    L.append("| run | sent | completed | lost | qps | rcodes | avg ms | min ms | max ms | stddev ms | p50 ms | p99 ms | p99.9 ms |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, d, p in (("plain", plain, pp), ("ECS 81.2.69.142/32", ecs, pe)):
        L.append(f"| {name} | {d['sent']} | {d['completed']} | {d['lost']} | {d['qps'] or 0:.0f} | {rc(d)} | "
                 f"{ms(d['avg'])} | {ms(d['min'])} | {ms(d['max'])} | {ms(d['stddev'])} | {us(p[50])} | {us(p[99])} | {us(p[99.9])} |")
    L.append("")
    L.append("Percentiles come from dnsperf -v's per-query latencies binned by run.sh (10 µs bins below 1 ms, "
             "1 ms bins below 100 ms, 10 ms above; the upper bound of the bin is shown): dnsperf 2.10 has no "
             "percentile or histogram option of its own.\n")
    L.append("## Samples (every 60 s)\n")
    L.append("| t (s) | RSS (MiB) | goroutines | SERVFAIL (cumulative) | responses (cumulative) | qps since last row | other dnsperf | godwit dropped | UDP rcvbuf errors (machine) |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    table = []
    prev = None
    for r in rows:
        if prev is not None and r[0] - prev[0] < 55 and r is not rows[-1]:
            continue
        rate = "" if prev is None else f"{(r[4] - prev[4]) / max(r[0] - prev[0], 1):.0f}"
        L.append(f"| {r[0]} | {r[1] / 1024:.1f} | {r[2]:.0f} | {r[3]} | {r[4]} | {rate} | {na(r[5])} | {na(r[6])} | {na(r[7])} |")
        table.append(f"  {r[0]:>5} s  rss {r[1] / 1024:6.1f} MiB  goroutines {r[2]:4.0f}  servfail {r[3]}  qps {rate or '-':>5}  other dnsperf {na(r[5])}  dropped {na(r[6])}  rcvbuf errors {na(r[7])}")
        prev = r
    L.append("")
    L.append(f"Flatness compares the mean of the first and last third of the samples after a {o.warmup:g} s "
             f"warm-up ({len(steady)} samples, {third} per third); the slope is a least-squares fit over the same samples.\n")
    L.append(METHOD)
    text = "\n".join(L) + "\n"
    with open(o.out, "w") as f:
        f.write(text)

    print()
    print(f"soak: {'PASS' if ok else 'FAIL'}")
    for name, good, fig in crit:
        print(f"  {'pass' if good else 'FAIL'}  {name:<46} {fig}")
    for name, d, p in (("plain", plain, pp), ("ecs", ecs, pe)):
        print(f"  {name:<5} sent {d['sent']} lost {d['lost']} qps {d['qps'] or 0:.0f} rcodes [{rc(d)}] "
              f"avg {ms(d['avg'])} ms p99 {us(p[99])} ms max {ms(d['max'])} ms")
    print("  samples every 60 s:")
    print("\n".join(table))
    print(f"  report written to {o.out}")
    sys.exit(0 if ok else 1)


METHOD = """## Method

`make soak` builds bin/godwit and runs testdata/soak/run.sh (bounded: SOAK_SECONDS, default 600;
loopback only; every process it starts is stopped by PID when it exits). The script:

1. renders testdata/soak/godwit.toml.tmpl into a temporary run directory beside copies of
   testdata/soak/zones/ and the generated GeoIP DB (geoip/city.mmdb): a geo service over that DB, a
   failover service whose ams target (127.0.0.41) is health-checked over HTTP every second against
   testdata/soak/backend.py, which answers 200 and 503 in turns of 5 s (iad, 127.0.0.42, stays up), and
   a routes service fed over BGP by one BIRD 2 peer (127.0.0.43, testdata/soak/bird.conf.tmpl);
2. starts godwit (`serve -listen 127.0.0.1:0 -status-listen 127.0.0.1:0`), waits until the live
   explain shows the route learned from BIRD, and records the counters;
3. starts the churn: the zone churn.soak.test is rewritten (serial bump, new file renamed over the old)
   every 2 s; geoip/city.mmdb is replaced (copy, then rename) every 30 s, alternating
   testdata/geoip/godwit-city.mmdb and MaxMind's GeoIP2-City-Test.mmdb; the BIRD peer gets SIGTERM
   (by PID) and is started again every 60 s;
4. runs `dnsperf -s 127.0.0.1 -p PORT -d testdata/soak/queries.txt -Q 5000 -l 600 -c 4 -T 1 -v` and,
   at the same time, an ECS variant at 1000 qps (`-E 8:000120005102458e`: family 1, source /32, scope 0,
   81.2.69.142) over the same names: churned zone (A, TXT, NXDOMAIN), the geo, health and routes services,
   and the SOA;
5. every 10 s samples godwit's VmRSS (/proc/PID/status) and, from /metrics on the status port,
   `go_goroutines` and `godwit_dns_responses_total` by rcode;
6. judges: lost queries at most SOAK_MAX_LOST_PPM per million sent (default 10, i.e. what the load
   generator itself may drop on a busy machine), no SERVFAIL (dnsperf's rcodes and godwit's counter), no
   FORMERR, RSS growth under 10 % and goroutines growth under 5 between the first and last third of the
   samples after warm-up, no panics (`godwit_dns_panics_total`) and no reload failures
   (`godwit_reload_failures_total`: every churned file is written atomically, so none may fail).

Knobs: SOAK_SECONDS, SOAK_QPS, SOAK_ECS_QPS, SOAK_FLAP, SOAK_ZONE_EVERY, SOAK_MMDB_EVERY,
SOAK_BIRD_EVERY, SOAK_SAMPLE_EVERY, SOAK_WARMUP, SOAK_MAX_LOST_PPM, SOAK_REPORT (where this file
goes), SOAK_KEEP=1 (keep the run directory with godwit's log, dnsperf's output and the samples).

The short version, `TestSoakShort` in cmd/godwit/soak_test.go, runs in `make test`: the same templates
for ~20 s with faster cadences (flap 1 s, zone 0.5 s, mmdb 5 s, one BIRD restart) under a Go load of
about 2000 qps (miekg/dns clients, 1 s timeout, no retries), and asserts no SERVFAIL, lost answers
within a tiny tolerance, and goroutines back near the baseline once the load stops. It skips when bird
is missing, unless GODWIT_ACCEPTANCE=1.
"""

if __name__ == "__main__":
    main()
