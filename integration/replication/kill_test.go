package replication_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/fanout-dev/fanout/services/replicator"
	"github.com/fanout-dev/fanout/services/replicator/replicatortest"
)

// TestKill9UnderLoad: two targets, each replicated by two fanout-replicator processes
// (the real binary, its default configuration but for addresses and a stable
// consume.instance_id per slot, as a StatefulSet gives). Under a load of concurrent
// writers on shared documents, one process is SIGKILLed every few seconds and
// restarted at once with the same instance id, as a supervisor would; once, a killed
// process stays down until its group has timed it out and handed its partitions to
// the survivor. Within 10 s of the load ending the lag is 0, both groups settle with
// both members, and each target converges to the primary: same documents, same
// versions, deleted documents absent, nothing dead-lettered, no version applied
// after a newer one.
func TestKill9UnderLoad(t *testing.T) {
	const (
		partitions = 6
		// The load: writers whose think time keeps the rate within what four
		// replicators on a loaded 2-core machine apply, so that the lag at the end
		// of the load is what the kills left, not a backlog of throughput.
		loadFor   = 24 * time.Second
		writers   = 4
		writerGap = 20 * time.Millisecond
		// killEvery is the fault schedule: a SIGKILL every few seconds, until the
		// load ends.
		killEvery = 3 * time.Second
		// lagBound is what the test is about: replicators that a supervisor
		// restarts after crashes, with the default configuration, are caught up
		// this soon after the writes stop.
		lagBound = 10 * time.Second
	)
	bin := buildReplicator(t)
	pl := startPipeline(t, partitions)
	kcl := pl.kafka.Client(t)
	adm := kadm.NewClient(kcl)
	tl := newTimeline()

	names := []string{"b", "c"}
	targets := map[string]*emulator{}
	groups := map[string]string{}
	var slots []*replicatorProc
	for _, n := range names {
		targets[n] = startTarget(t, n, "")
		cfg := replicator.DefaultConfig()
		cfg.Target.Name = n
		groups[n] = cfg.GroupName()
		for i := 0; i < 2; i++ {
			slots = append(slots, newReplicatorProc(t, bin, fmt.Sprintf("%s-%d", n, i), []string{
				"FANOUT_TARGET_NAME=" + n,
				"FANOUT_TARGET_ENDPOINTS=" + targets[n].url,
				"FANOUT_KAFKA_BROKERS=" + strings.Join(pl.kafka.Addrs(), ","),
				// The default listeners are fixed ports (:9465, 127.0.0.1:9475): two
				// processes on one machine take a free port each.
				"FANOUT_METRICS_LISTEN=127.0.0.1:0",
				"FANOUT_ADMIN_LISTEN=127.0.0.1:0",
			}))
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("timeline:\n%s", tl)
			for _, s := range slots {
				t.Logf("log of %s (last 6000 bytes of %d incarnations):\n%s", s.instance, s.incarnations(), s.logTail(6000))
			}
		}
	})
	tl.watch(t, adm, names, groups)
	for _, s := range slots {
		if err := s.start(); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for _, n := range names {
		waitSettled(t, adm, groups[n], partitions, time.Minute, n+"-0", n+"-1")
	}
	t.Logf("4 replicator processes up and both groups settled in %s", time.Since(start).Round(time.Millisecond))

	w := newWorkload(t, pl.proxy, 600, 25)
	stopLoad := w.background(t, writers, writerGap, 13)
	tl.add("load starts")

	// The long outage: b-1 is killed and stays down until group b has timed it out
	// (consume.session_timeout, 10 s) and its survivor owns every partition; then it
	// is restarted and must take its share back. The outage's goroutine reports to
	// t: a test that fails early waits for it.
	long := slots[1]
	var outageWG sync.WaitGroup
	t.Cleanup(outageWG.Wait)
	outageDone := make(chan struct{})
	var outageReport string // written before outageDone closes
	outage := func(killedAt time.Time) {
		defer close(outageDone)
		var last membership
		if !poll(45*time.Second, 100*time.Millisecond, func() bool {
			last = describe(adm, groups["b"])
			return last.settled(partitions, "b-0")
		}) {
			t.Errorf("group b did not time out the killed %s within 45 s (consume.session_timeout is 10 s): %s", long.instance, last)
		} else {
			outageReport = fmt.Sprintf("group b timed out the killed %s and gave its partitions to b-0 in %s",
				long.instance, time.Since(killedAt).Round(time.Millisecond))
			tl.add("%s", outageReport)
		}
		if err := long.start(); err != nil {
			t.Error(err)
		}
		tl.add("restarted %s after its outage", long.instance)
	}

	tick := time.NewTicker(killEvery)
	defer tick.Stop()
	end := time.NewTimer(loadFor)
	defer end.Stop()
	var kills, killedOwners int
	var lastKill time.Time
	outageStarted := false
	next := 0
kill:
	for n := 0; ; n++ {
		select {
		case <-tick.C:
		case <-end.C:
			break kill
		}
		if n == 1 {
			// kfake (v0.0.0-20260918054303) never times out a member that died
			// while its JoinGroup answer was in flight: it arms no session timer
			// when the answer cannot be delivered, and the member stays in the
			// group with its partitions, where Kafka starts every member's
			// session timer when the join completes. So the long outage starts
			// from a settled group, whose members' timers kfake does run.
			waitSettled(t, adm, groups["b"], partitions, time.Minute, "b-0", "b-1")
			if err := long.kill(); err != nil {
				t.Fatalf("killing %s: %v", long.instance, err)
			}
			tl.add("kill -9 %s; it stays down until its group times it out", long.instance)
			outageWG.Add(1)
			outageStarted = true
			go func(at time.Time) { defer outageWG.Done(); outage(at) }(time.Now())
			continue
		}
		victim := slots[next%len(slots)]
		next++
		if victim == long && !closed(outageDone) {
			victim = slots[next%len(slots)]
			next++
		}
		owned := victim.joined()
		if err := victim.kill(); err != nil {
			t.Fatalf("killing %s: %v", victim.instance, err)
		}
		if err := victim.start(); err != nil {
			t.Fatal(err)
		}
		lastKill = time.Now()
		tl.add("kill -9 %s (assigned partitions: %v) and restart", victim.instance, owned)
		kills++
		if owned {
			killedOwners++
		}
	}
	stopLoad()
	loadEnded := time.Now()
	if !outageStarted {
		t.Fatal("the load ended before the long outage began")
	}
	tl.add("load ends")
	t.Logf("load: %d operations from %d writers; %d kill -9 with an immediate restart, and one long outage",
		w.ops.Load(), writers, kills)

	// Lag: every partition's committed offset, per group, is its end offset.
	var lastBehind string
	caughtUp := poll(2*time.Minute, 100*time.Millisecond, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var parts []string
		for _, n := range names {
			behind, err := replicatortest.Behind(ctx, kcl, groups[n], topic)
			if err != nil {
				lastBehind = err.Error()
				return false
			}
			if len(behind) > 0 {
				parts = append(parts, n+": "+strings.Join(behind, " "))
			}
		}
		lastBehind = strings.Join(parts, "; ")
		return len(parts) == 0
	})
	toZero := time.Since(loadEnded)
	if !caughtUp {
		t.Fatalf("lag still not 0 two minutes after the load ended (partition:committed/end): %s", lastBehind)
	}
	tl.add("lag 0")
	t.Logf("lag 0 on both targets %s after the load ended (%s after the last kill)",
		toZero.Round(time.Millisecond), time.Since(lastKill).Round(time.Millisecond))
	if toZero > lagBound {
		t.Errorf("lag returned to 0 %s after the load ended, want within %s", toZero.Round(time.Millisecond), lagBound)
	}

	<-outageDone
	if outageReport != "" {
		t.Log(outageReport)
	}
	// Lag 0 with a group that never settled would prove little: both members of each
	// group are back and share the partitions.
	for _, n := range names {
		waitSettled(t, adm, groups[n], partitions, time.Minute, n+"-0", n+"-1")
	}
	t.Logf("both groups settled with both members %s after the load ended", time.Since(loadEnded).Round(time.Millisecond))
	if killedOwners < kills/2 {
		t.Errorf("only %d of %d killed processes had been assigned partitions: the kills hit processes that had not joined yet", killedOwners, kills)
	}

	for _, n := range names {
		rep := assertConverged(t, pl.primary, targets[n], nil)
		t.Logf("target %s: %d documents converged", n, rep.Compared)
		dlqEmpty(t, pl.kafka, n)
		checkVersionsOnlyGrow(t, targets[n], workloadIndices)
	}

	// After all this, SIGTERM still drains and exits 0.
	for _, s := range slots {
		if err := s.terminate(); err != nil {
			t.Errorf("%s after SIGTERM: %v", s.instance, err)
		}
	}
}

// buildReplicator builds the real fanout-replicator binary (see buildBinary).
func buildReplicator(t testing.TB) string {
	return buildBinary(t, "fanout-replicator", "github.com/fanout-dev/fanout/services/replicator/cmd/fanout-replicator")
}

// buildBinary builds a service binary as shipped: without the race detector, whose
// slowdown (several times, in every child) would be measured as recovery time. The
// services' races are the race-enabled unit tests' to find.
func buildBinary(t testing.TB, name, pkg string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build " + name + " with")
	}
	bin := filepath.Join(t.TempDir(), name)
	args := []string{"build", "-o", bin, pkg}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	if out, err := exec.CommandContext(ctx, gobin, args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("built %s in %s", name, time.Since(start).Round(time.Millisecond))
	return bin
}

// replicatorProc is one replica slot of a target: a fanout-replicator child process
// with a stable consume.instance_id, started again after every kill.
type replicatorProc struct {
	bin      string
	instance string
	env      []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current incarnation has been waited for
	exitErr error
	// stopping is set before the test itself signals the process: any other exit
	// is a failure.
	stopping bool
	log      *procLog
	n        int // incarnations started
	errorf   func(format string, args ...any)
}

func newReplicatorProc(t testing.TB, bin, instance string, env []string) *replicatorProc {
	t.Helper()
	// The child sees the test's environment without any FANOUT_* setting of the
	// machine running the tests, then only addresses and its instance id.
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FANOUT_") {
			base = append(base, kv)
		}
	}
	p := &replicatorProc{
		bin: bin, instance: instance,
		env: append(append(base, env...), "FANOUT_CONSUME_INSTANCE_ID="+instance),
		log: &procLog{},
	}
	p.errorf = t.Errorf
	t.Cleanup(func() {
		// A process still running when the test ends (it failed early) is killed.
		if err := p.kill(); err != nil {
			t.Errorf("killing %s: %v", p.instance, err)
		}
	})
	return p
}

// start starts a new incarnation. A process that exits without the test stopping
// it fails the test.
func (p *replicatorProc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	n := p.n
	p.log.begin(n)
	cmd := exec.Command(p.bin)
	cmd.Env = p.env
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.instance, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.stopping = cmd, exited, false
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		unexpected := !p.stopping
		p.mu.Unlock()
		if unexpected {
			p.errorf("%s (incarnation %d) exited by itself: %v", p.instance, n, err)
		}
		close(exited)
	}()
	return nil
}

// kill SIGKILLs the current incarnation, if it runs, and waits for it.
func (p *replicatorProc) kill() error {
	return p.signal(syscall.SIGKILL, 10*time.Second, false)
}

// terminate sends SIGTERM and waits for the drain; the process must exit 0.
func (p *replicatorProc) terminate() error {
	return p.signal(syscall.SIGTERM, 45*time.Second, true)
}

func (p *replicatorProc) signal(sig syscall.Signal, wait time.Duration, wantClean bool) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	if cmd == nil || closed(exited) {
		p.mu.Unlock()
		return nil
	}
	p.stopping = true
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sending %v: %w", sig, err)
	}
	select {
	case <-exited:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("still running %s after %v; killed", wait, sig)
	}
	if !wantClean {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// joined says whether the current incarnation owns partitions.
func (p *replicatorProc) joined() bool { return p.log.assignedSince() }

func (p *replicatorProc) incarnations() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

func (p *replicatorProc) logTail(n int) string { return p.log.tail(n) }

// procLog keeps a slot's output over all its incarnations and watches its lines: the
// replicator logs JSON, one line per event.
type procLog struct {
	mu       sync.Mutex
	all      bytes.Buffer
	partial  []byte
	assigned bool // the current incarnation owns partitions, as it last logged
}

func (l *procLog) begin(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.all.WriteByte('\n')
	}
	l.partial = nil
	l.assigned = false
	fmt.Fprintf(&l.all, "--- incarnation %d at %s\n", n, time.Now().Format("15:04:05.000"))
}

func (l *procLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(b)
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		if line := l.partial[:i]; bytes.Contains(line, []byte(`"msg":"partitions assigned"`)) {
			// "owned" counts the partitions held after the assignment.
			l.assigned = !bytes.Contains(line, []byte(`"owned":0`))
		}
		l.partial = l.partial[i+1:]
	}
	return len(b), nil
}

func (l *procLog) assignedSince() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.assigned
}

func (l *procLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.all.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// membership is what the group coordinator says about a consumer group.
type membership struct {
	state string
	owned map[string][]int32 // partitions of topic by instance id (member id if dynamic)
	err   error
}

func describe(adm *kadm.Client, group string) membership {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	described, err := adm.DescribeGroups(ctx, group)
	if err == nil {
		err = described.Error()
	}
	if err != nil {
		return membership{err: err}
	}
	g := described[group]
	m := membership{state: g.State, owned: map[string][]int32{}}
	for _, mem := range g.Members {
		id := mem.MemberID
		if mem.InstanceID != nil {
			id = *mem.InstanceID
		}
		m.owned[id] = []int32{}
		if c, ok := mem.Assigned.AsConsumer(); ok {
			for _, tp := range c.Topics {
				if tp.Topic == topic {
					m.owned[id] = append(m.owned[id], tp.Partitions...)
				}
			}
		}
		slices.Sort(m.owned[id])
	}
	return m
}

// settled: the group is stable with exactly the given static members, each assigned
// some partitions, and every partition assigned once.
func (m membership) settled(partitions int, instances ...string) bool {
	if m.err != nil || m.state != "Stable" || len(m.owned) != len(instances) {
		return false
	}
	seen := map[int32]bool{}
	for _, id := range instances {
		ps, ok := m.owned[id]
		if !ok || len(ps) == 0 {
			return false
		}
		for _, p := range ps {
			if seen[p] {
				return false
			}
			seen[p] = true
		}
	}
	return len(seen) == partitions
}

func (m membership) String() string {
	if m.err != nil {
		return "describing the group: " + m.err.Error()
	}
	ids := make([]string, 0, len(m.owned))
	for id := range m.owned {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	fmt.Fprintf(&b, "state %s, members", m.state)
	for _, id := range ids {
		fmt.Fprintf(&b, " %s%v", id, m.owned[id])
	}
	return b.String()
}

// waitSettled waits until group is settled with the given members.
func waitSettled(t *testing.T, adm *kadm.Client, group string, partitions int, timeout time.Duration, instances ...string) {
	t.Helper()
	var last membership
	if !poll(timeout, 100*time.Millisecond, func() bool {
		last = describe(adm, group)
		return last.settled(partitions, instances...)
	}) {
		t.Fatalf("group %s did not settle with members %v within %s: %s", group, instances, timeout, last)
	}
}

// poll checks cond every interval until it holds (true) or timeout passes (false).
func poll(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// timeline records the faults and every change of the groups' membership, for the
// failure message: a stuck rebalance shows there as it happened.
type timeline struct {
	start time.Time
	mu    sync.Mutex
	lines []string
}

func newTimeline() *timeline { return &timeline{start: time.Now()} }

func (tl *timeline) add(format string, args ...any) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.lines = append(tl.lines, fmt.Sprintf("%8s  ", time.Since(tl.start).Round(10*time.Millisecond))+fmt.Sprintf(format, args...))
}

func (tl *timeline) String() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return strings.Join(tl.lines, "\n")
}

// watch records the groups' membership whenever it changes, until the test ends.
func (tl *timeline) watch(t *testing.T, adm *kadm.Client, names []string, groups map[string]string) {
	stop, done := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		last := map[string]string{}
		for {
			for _, n := range names {
				if m := describe(adm, groups[n]).String(); m != last[n] {
					last[n] = m
					tl.add("group %s: %s", n, m)
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
}
