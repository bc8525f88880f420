package fanoutctl

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// stackPorts lists every port a dev stack at base with replicas replicators binds.
func stackPorts(base, replicas int) []int {
	ports := []int{base, base + 1, metricsPort(base, 0)}
	for i := 1; i <= replicas; i++ {
		ports = append(ports, base+1+i, metricsPort(base, i), adminPort(base, replicas, i))
	}
	return ports
}

// TestDevPortLayout: at the default base the stack takes the services' own default
// ports; no two of its ports are the same for any number of replicas; and a stack at
// another base takes none of the first one's.
func TestDevPortLayout(t *testing.T) {
	if got, want := fmt.Sprint(stackPorts(9200, 2)), "[9200 9201 9464 9202 9465 9475 9203 9466 9476]"; got != want {
		t.Errorf("ports at the default base: %s, want %s", got, want)
	}
	for replicas := 1; replicas <= 16; replicas++ {
		seen := map[int]bool{}
		for _, p := range append(stackPorts(9200, replicas), stackPorts(10200, replicas)...) {
			if seen[p] {
				t.Errorf("%d replicas: port %d taken twice (stacks at 9200 and 10200)", replicas, p)
			}
			seen[p] = true
		}
		if h := highestPort(9200, replicas); !seen[h] {
			t.Errorf("%d replicas: highest port %d is not one the stack takes", replicas, h)
		}
	}
	err := run(context.Background(), []string{"dev", "--base-port", "65300"}, &env{stdout: &syncBuffer{}, stderr: &syncBuffer{}})
	if err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("dev --base-port 65300: %v, want out of range", err)
	}
}

// freeBase finds a base port below the ephemeral range whose stack's ports are all free
// now and none of which is in avoid.
func freeBase(t *testing.T, replicas int, avoid map[int]bool) int {
	t.Helper()
	for range 200 {
		base := 20000 + rand.IntN(10000)
		ports := stackPorts(base, replicas)
		ok := true
		for _, p := range ports {
			if avoid[p] {
				ok = false
				break
			}
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			for _, p := range ports {
				avoid[p] = true
			}
			return base
		}
	}
	t.Fatal("no free base port for a dev stack")
	return 0
}

// TestDevTwoStacksSideBySide: two dev stacks on one machine at different --base-port
// values both come up, each with its metrics and admin routes on ports of its own base.
func TestDevTwoStacksSideBySide(t *testing.T) {
	avoid := map[int]bool{}
	bases := []int{freeBase(t, 1, avoid), freeBase(t, 1, avoid)}
	ctx, cancel := context.WithCancel(context.Background())
	type stack struct {
		out, errb syncBuffer
		done      chan error
	}
	stacks := make([]*stack, len(bases))
	for i, base := range bases {
		s := &stack{done: make(chan error, 1)}
		stacks[i] = s
		go func() {
			s.done <- run(ctx, []string{"dev", "--base-port", fmt.Sprint(base), "--kafka-port", "0", "--replicas", "1",
				"--partitions", "2"}, &env{stdout: &s.out, stderr: &s.errb})
		}()
	}
	t.Cleanup(func() {
		cancel()
		for i, s := range stacks {
			select {
			case err := <-s.done:
				if err != nil {
					t.Errorf("stack at %d: %v\n%s", bases[i], err, s.errb.String())
				}
			case <-time.After(15 * time.Second):
				t.Errorf("stack at %d did not stop within 15s", bases[i])
			}
		}
	})
	for i, s := range stacks {
		base := bases[i]
		waitFor(t, 30*time.Second, fmt.Sprintf("the stack at %d", base), func() bool {
			select {
			case err := <-s.done:
				t.Fatalf("stack at %d stopped: %v\n%s", base, err, s.errb.String())
			default:
			}
			return strings.Contains(s.out.String(), "  kafka ")
		})
		m := replicatorListeners.FindStringSubmatch(s.out.String())
		if m == nil {
			t.Fatalf("no replicator listeners in:\n%s", s.out.String())
		}
		want := map[string]string{
			"replicator admin":   fmt.Sprintf("http://127.0.0.1:%d", adminPort(base, 1, 1)),
			"replicator metrics": fmt.Sprintf("http://127.0.0.1:%d", metricsPort(base, 1)),
		}
		if m[1] != want["replicator admin"] || m[2] != want["replicator metrics"] {
			t.Errorf("stack at %d: admin %s, metrics %s, want %v", base, m[1], m[2], want)
		}
		proxyMetrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort(base, 0))
		if !strings.Contains(s.out.String(), proxyMetrics) {
			t.Errorf("stack at %d: proxy metrics not at %s:\n%s", base, proxyMetrics, s.out.String())
		}
		for _, u := range []string{proxyMetrics, m[2] + "/metrics", m[1] + "/admin/status",
			fmt.Sprintf("http://127.0.0.1:%d/", base)} {
			resp, err := http.Get(u)
			if err != nil {
				t.Errorf("stack at %d: %s: %v", base, u, err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("stack at %d: %s: %d", base, u, resp.StatusCode)
			}
		}
	}
}
