// Command bgp measures Godwit's BGP speaker (routes.Speaker) on full tables:
// one BIRD plays three site routers (ams, iad, sin), each exporting the same
// generated prefixes with a different AS-path length, and the speaker dials
// all three. It reports, as key=value lines on stdout: time until every
// route of every peer is in the table, RSS and CPU seconds of this process
// (which is the speaker and nothing else), the longest Peers() call during
// the load, the time until answers move when one session is disabled
// (birdc disable), and the time Stop takes.
//
// With -receiver bird, a second BIRD takes the speaker's place (three
// sessions, import all) and the same figures are read from its process and
// from `birdc show route count`, for comparison.
//
//	go run ./testdata/bench/large/bgp -v4 200000 -v6 20000 -cpuprofile cpu.out -memprofile mem.out
//
// The prefixes are deterministic: IPv4 /24s (every 10th a /20) and IPv6
// /48s spread by a fixed permutation, never in 0/8, 127/8 or 224/4.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/godwit-dns/godwit/routes"
)

var sites = []string{"ams", "iad", "sin"}

// impl is the speaker implementation under test.
var impl = flag.String("impl", routes.ImplNative, "speaker implementation ([routes.bgp] implementation): gobgp or native")

func main() {
	v4 := flag.Int("v4", 200000, "IPv4 prefixes per site")
	v6 := flag.Int("v6", 20000, "IPv6 prefixes per site")
	receiver := flag.String("receiver", "godwit", "who receives the routes: godwit (the speaker, in this process) or bird")
	cpuProfile := flag.String("cpuprofile", "", "CPU profile of the load (start to convergence)")
	wProfile := flag.String("withdrawprofile", "", "CPU profile of the withdrawal of one peer")
	memProfile := flag.String("memprofile", "", "heap profile after convergence")
	work := flag.String("dir", "", "working directory (default: a temporary one, removed)")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	logLevel := flag.String("log", "warn", "speaker log level")
	flag.Parse()
	if err := run(*v4, *v6, *receiver, *cpuProfile, *wProfile, *memProfile, *work, *timeout, *logLevel); err != nil {
		fmt.Fprintln(os.Stderr, "bgp:", err)
		os.Exit(1)
	}
}

// v4Prefix returns the i-th generated IPv4 prefix (i < 2^23 or so).
func prefixes(n4, n6 int, fn func(netip.Prefix)) {
	// A multiplicative permutation of the 2^24 /24s; skip reserved first octets.
	for i, k := 0, uint32(0); i < n4; k++ {
		x := (k * 2654435761) & (1<<24 - 1)
		o := x >> 16
		if o == 0 || o == 127 || o >= 224 || o == 10 {
			continue
		}
		bits := 24
		if i%10 == 9 {
			bits = 20
		}
		a := netip.AddrFrom4([4]byte{byte(x >> 16), byte(x >> 8), byte(x), 0})
		p := netip.PrefixFrom(a, bits).Masked()
		if bits == 20 && p.Addr() != a {
			continue // keep /20s distinct from each other: only aligned ones
		}
		fn(p)
		i++
	}
	for i := 0; i < n6; i++ {
		x := uint64(uint32(i) * 2654435761)
		hi := uint64(0x2a00)<<48 | x<<16
		var b [16]byte
		for j := 0; j < 8; j++ {
			b[j] = byte(hi >> (56 - 8*j))
		}
		fn(netip.PrefixFrom(netip.AddrFrom16(b), 48))
	}
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startBird(dir, name, conf string) (*proc, error) {
	cf := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("bird", "-f", "-c", cf, "-s", filepath.Join(dir, name+".ctl"), "-P", filepath.Join(dir, name+".pid"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func birdc(dir, name string, args ...string) (string, error) {
	out, err := exec.Command("birdc", append([]string{"-s", filepath.Join(dir, name+".ctl")}, args...)...).CombinedOutput()
	return string(out), err
}

// senderConf: one BIRD, three passive sessions on 127.0.0.2-4; site k
// prepends its AS k times, so AS-path lengths are 1, 2, 3. BIRD keeps one
// protocol per neighbour address and port, hence the distinct (never used)
// neighbour ports dummy, dummy+1, dummy+2.
func senderConf(routesFile string, ports []int, dummy int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "router id 127.0.0.2;\nprotocol device { }\ninclude \"%s\";\n", routesFile)
	for k, s := range sites {
		asn := 65001 + k
		fmt.Fprintf(&b, "filter to_%s { %s accept; }\n", s, strings.Repeat(fmt.Sprintf("bgp_path.prepend(%d); ", asn), k))
		fmt.Fprintf(&b, `protocol bgp %s {
  local 127.0.0.%d port %d as %d;
  neighbor 127.0.0.1 port %d as 65000;
  strict bind yes; passive on;
  multihop; hold time 90; keepalive time 30;
  ipv4 { import none; export filter to_%s; next hop self; };
  ipv6 { import none; export filter to_%s; extended next hop on; next hop self; };
}
`, s, k+2, ports[k], asn, dummy+k, s, s)
	}
	return b.String()
}

// receiverConf: BIRD in Godwit's place, dialling the three sessions.
func receiverConf(ports []int, local int) string {
	var b strings.Builder
	b.WriteString("router id 127.0.0.1;\nprotocol device { }\n")
	for k, s := range sites {
		fmt.Fprintf(&b, `protocol bgp %s {
  local 127.0.0.1 port %d as 65000;
  neighbor 127.0.0.%d port %d as %d;
  strict bind yes; multihop; hold time 90; keepalive time 30;
  ipv4 { import all; export none; };
  ipv6 { import all; export none; extended next hop on; };
}
`, s, local, k+2, ports[k], 65001+k)
	}
	return b.String()
}

func selfStatus(key string) int { return statusKB("self", key) }

func statusKB(pid, key string) int {
	b, _ := os.ReadFile("/proc/" + pid + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key+":" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// cpuSeconds of a process (utime+stime from /proc/PID/stat).
func cpuSeconds(pid string) float64 {
	b, _ := os.ReadFile("/proc/" + pid + "/stat")
	s := string(b)
	s = s[strings.LastIndexByte(s, ')')+2:]
	f := strings.Fields(s)
	u, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return float64(u+st) / 100 // USER_HZ
}

func mib(kb int) string { return fmt.Sprintf("%.0f", float64(kb)/1024) }

func run(n4, n6 int, receiver, cpuProfile, wProfile, memProfile, dir string, timeout time.Duration, logLevel string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "godwit-bgp.")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	// --- routes for BIRD ---
	t0 := time.Now()
	rf := filepath.Join(dir, "routes.conf")
	f, err := os.Create(rf)
	if err != nil {
		return err
	}
	var w strings.Builder
	w.WriteString("protocol static st4 { ipv4;\n")
	var first4, first6 netip.Prefix
	var got4, got6 int
	var buf6 strings.Builder
	buf6.WriteString("protocol static st6 { ipv6;\n")
	prefixes(n4, n6, func(p netip.Prefix) {
		if p.Addr().Is4() {
			if got4 == 0 {
				first4 = p
			}
			got4++
			fmt.Fprintf(&w, "route %s blackhole;\n", p)
		} else {
			if got6 == 0 {
				first6 = p
			}
			got6++
			fmt.Fprintf(&buf6, "route %s blackhole;\n", p)
		}
		if w.Len() > 1<<20 {
			_, _ = f.WriteString(w.String())
			w.Reset()
		}
	})
	w.WriteString("}\n")
	buf6.WriteString("}\n")
	_, _ = f.WriteString(w.String())
	_, _ = f.WriteString(buf6.String())
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("prefixes_v4=%d prefixes_v6=%d sites=%d gen_s=%.2f\n", got4, got6, len(sites), time.Since(t0).Seconds())

	ports := make([]int, len(sites))
	for k := range sites {
		if ports[k], err = freePort(fmt.Sprintf("127.0.0.%d", k+2)); err != nil {
			return err
		}
	}
	dummy, err := freePort("127.0.0.1")
	if err != nil {
		return err
	}
	t0 = time.Now()
	sender, err := startBird(dir, "sender", senderConf(rf, ports, dummy))
	if err != nil {
		return err
	}
	defer sender.stop()
	// Wait until the sender has its static routes (so that the load timed
	// below is the BGP transfer, not BIRD's parsing).
	for {
		out, _ := birdc(dir, "sender", "show", "route", "count")
		if strings.Contains(out, fmt.Sprintf("%d of %d routes", got4+got6, got4+got6)) {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("sender BIRD never loaded its routes: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Printf("sender_load_s=%.2f sender_rss_mib=%s\n", time.Since(t0).Seconds(), mib(statusKB(strconv.Itoa(sender.cmd.Process.Pid), "VmRSS")))

	if receiver == "bird" {
		return runBird(ctx, dir, ports, got4, got6)
	}
	return runGodwit(ctx, dir, ports, got4, got6, first4, first6, cpuProfile, wProfile, memProfile, logLevel)
}

func runBird(ctx context.Context, dir string, ports []int, n4, n6 int) error {
	local, err := freePort("127.0.0.1")
	if err != nil {
		return err
	}
	t0 := time.Now()
	rcv, err := startBird(dir, "receiver", receiverConf(ports, local))
	if err != nil {
		return err
	}
	defer rcv.stop()
	pid := strconv.Itoa(rcv.cmd.Process.Pid)
	want := fmt.Sprintf("%d of %d routes", len(sites)*(n4+n6), len(sites)*(n4+n6))
	for {
		out, _ := birdc(dir, "receiver", "show", "route", "count")
		if strings.Contains(out, want) {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("receiver BIRD did not converge: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("converge_s=%.2f rss_mib=%s hwm_mib=%s cpu_s=%.2f\n", time.Since(t0).Seconds(),
		mib(statusKB(pid, "VmRSS")), mib(statusKB(pid, "VmHWM")), cpuSeconds(pid))
	cpu0 := cpuSeconds(pid)
	t0 = time.Now()
	if out, err := birdc(dir, "sender", "disable", sites[0]); err != nil {
		return fmt.Errorf("birdc disable: %v: %s", err, out)
	}
	want = fmt.Sprintf("%d of %d routes", (len(sites)-1)*(n4+n6), (len(sites)-1)*(n4+n6))
	for {
		out, _ := birdc(dir, "receiver", "show", "route", "count")
		if strings.Contains(out, want) {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("receiver BIRD did not drop %s: %s", sites[0], out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Printf("withdraw_s=%.2f withdraw_cpu_s=%.2f rss_after_withdraw_mib=%s\n", time.Since(t0).Seconds(),
		cpuSeconds(pid)-cpu0, mib(statusKB(pid, "VmRSS")))
	t0 = time.Now()
	rcv.stop()
	fmt.Printf("shutdown_s=%.2f\n", time.Since(t0).Seconds())
	return nil
}

func runGodwit(ctx context.Context, dir string, ports []int, n4, n6 int, probe4, probe6 netip.Prefix,
	cpuProfile, wProfile, memProfile, logLevel string) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		return err
	}
	cfg := routes.BGPConfig{ASN: 65000, RouterID: "127.0.0.1", Implementation: *impl}
	for k, s := range sites {
		cfg.Peers = append(cfg.Peers, routes.PeerConfig{
			Address: fmt.Sprintf("127.0.0.%d", k+2), ASN: uint32(65001 + k), Port: uint16(ports[k]),
			Datacenter: s, LocalAddress: "127.0.0.1",
		})
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	changed := make(chan struct{}, 1)
	sp, err := routes.NewSpeaker(cfg, log, func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return err
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	cpu0 := cpuSeconds("self")
	t0 := time.Now()
	if err := sp.Start(ctx); err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			sp.Stop()
		}
	}()
	total := len(sites) * (n4 + n6)
	var established time.Duration
	var maxPeers time.Duration
	lastReport := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ts := time.Now()
		ps := sp.Peers()
		maxPeers = max(maxPeers, time.Since(ts))
		n, up := 0, 0
		for _, p := range ps {
			n += p.Prefixes
			if p.State == "established" {
				up++
			}
		}
		if established == 0 && up == len(sites) {
			established = time.Since(t0)
		}
		if n == total {
			break
		}
		if time.Since(lastReport) > 5*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(os.Stderr, "%5.1fs: %d of %d routes, %d peers up\n", time.Since(t0).Seconds(), n, total, up)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no convergence: %d of %d routes, %d peers up", n, total, up)
		case <-tick.C:
		case <-changed:
		}
	}
	conv := time.Since(t0)
	cpu := cpuSeconds("self") - cpu0
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	rss, hwm := selfStatus("VmRSS"), selfStatus("VmHWM")
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	v4, v6 := sp.Table().Len()
	fmt.Printf("established_s=%.2f converge_s=%.2f rss_mib=%s hwm_mib=%s cpu_s=%.2f heap_live_mib=%d table_v4=%d table_v6=%d peers_max_ms=%.3f\n",
		established.Seconds(), conv.Seconds(), mib(rss), mib(hwm), cpu, ms.HeapAlloc>>20, v4, v6, float64(maxPeers.Microseconds())/1000)
	// What an operator sees once the feed is over: the speaker hands the
	// memory its publications freed back 2 s after a large feed goes quiet.
	time.Sleep(5 * time.Second)
	fmt.Printf("settled_rss_mib=%s (5 s after convergence)\n", mib(selfStatus("VmRSS")))
	if memProfile != "" {
		f, err := os.Create(memProfile)
		if err != nil {
			return err
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			return err
		}
		f.Close()
	}
	// Peers() at rest.
	ts := time.Now()
	for range 100 {
		sp.Peers()
	}
	fmt.Printf("peers_call_us=%.1f\n", float64(time.Since(ts).Microseconds())/100)

	// One site goes away: time until answers for its prefixes move.
	probes := []netip.Addr{probe4.Addr().Next(), probe6.Addr().Next()}
	hasSite := func() bool {
		for _, a := range probes {
			m, ok := sp.Table().Lookup(a)
			if !ok {
				return true
			}
			for _, r := range m.Reach {
				if r.Datacenter == sites[0] {
					return true
				}
			}
		}
		return false
	}
	if !hasSite() {
		return errors.New("probe addresses do not reach the first site")
	}
	if wProfile != "" {
		f, err := os.Create(wProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	cpu0 = cpuSeconds("self")
	t0 = time.Now()
	if out, err := birdc(dir, "sender", "disable", sites[0]); err != nil {
		return fmt.Errorf("birdc disable: %v: %s", err, out)
	}
	maxPeers = 0
	for hasSite() {
		ts := time.Now()
		sp.Peers()
		maxPeers = max(maxPeers, time.Since(ts))
		select {
		case <-ctx.Done():
			return errors.New("answers never moved after the withdrawal")
		case <-changed:
		case <-time.After(10 * time.Millisecond):
		}
	}
	moved := time.Since(t0)
	if wProfile != "" {
		pprof.StopCPUProfile()
	}
	// and the counters agree
	for {
		ps := sp.Peers()
		if ps[0].Prefixes == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("peer %s still has %d prefixes", sites[0], ps[0].Prefixes)
		case <-time.After(10 * time.Millisecond):
		}
	}
	fmt.Printf("withdraw_s=%.2f withdraw_cpu_s=%.2f rss_after_withdraw_mib=%s peers_max_ms_during_withdraw=%.3f\n",
		moved.Seconds(), cpuSeconds("self")-cpu0, mib(selfStatus("VmRSS")), float64(maxPeers.Microseconds())/1000)
	for _, p := range sp.Peers() {
		fmt.Printf("peer %s %s %s prefixes=%d\n", p.Address, p.Datacenter, p.State, p.Prefixes)
	}
	t0 = time.Now()
	sp.Stop()
	stopped = true
	fmt.Printf("shutdown_s=%.2f hwm_mib=%s\n", time.Since(t0).Seconds(), mib(selfStatus("VmHWM")))
	return nil
}
