package fanoutctl

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/pkg/spool"
	"github.com/fanout-dev/fanout/testbed/kafkatest"
)

// fillSpool writes n Kafka records for topic into a spool in dir, as a proxy does.
func fillSpool(t *testing.T, dir, topic string, n int) {
	t.Helper()
	s, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var es []spool.Entry
	for i := 0; i < n; i++ {
		rec := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("i/%d", i%3)), Value: []byte(strconv.Itoa(i)),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
		es = append(es, spool.Entry{Type: spool.TypeKafkaRecord, Payload: spool.EncodeKafkaRecord(nil, rec)})
	}
	if err := s.Append(context.Background(), es); err != nil {
		t.Fatal(err)
	}
}

func TestSpoolStatus(t *testing.T) {
	dir := t.TempDir()
	fillSpool(t, dir, opsTopic, 5)
	now := time.Now().Add(time.Hour)
	var st spoolStatus
	cliJSON(t, 0, &st, deps{now: func() time.Time { return now }}, "spool", "status", dir)
	if st.Records != 5 || st.Bytes == 0 || st.Segments != 1 || st.Locked || st.OldestAgeSeconds < 3500 || st.Dir != dir {
		t.Fatalf("status of a closed spool of 5: %+v", st)
	}
	// Held by a process: the table says by whom.
	s, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := cli(t, context.Background(), deps{}, nil, "spool", "status", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(r.stdout, " 5 ") {
		t.Fatalf("status of an open spool: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestSpoolBadInput(t *testing.T) {
	dir := t.TempDir()
	notSpool := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no subcommand", []string{"spool"}, 2, "spool: which one?"},
		{"no directory", []string{"spool", "status"}, 2, "the spool directory is required"},
		{"two directories", []string{"spool", "status", dir, "other"}, 2, "unexpected arguments: other"},
		{"bad output", []string{"spool", "status", dir, "-o", "yaml"}, 2, "-o must be table or json"},
		{"missing directory", []string{"spool", "status", filepath.Join(dir, "nope")}, 1, "no such file or directory"},
		{"a file", []string{"spool", "status", file}, 1, "is not a directory"},
		{"not a spool", []string{"spool", "status", notSpool}, 1, "is not a spool directory"},
		{"drain not a spool", []string{"spool", "drain", notSpool}, 1, "is not a spool directory"},
		{"drain bad timeout", []string{"spool", "drain", dir, "--timeout", "0s"}, 2, "--timeout must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := cli(t, context.Background(), deps{}, nil, c.args...)
			if r.code != c.code || strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") > 0 && c.code != 2 ||
				!strings.Contains(lastLine(r.stderr), c.stderr) {
				t.Fatalf("exit %d, want %d; stderr %q, want it to say %q", r.code, c.code, r.stderr, c.stderr)
			}
		})
	}
}

func TestSpoolDrain(t *testing.T) {
	k := kafkatest.NewCluster(t, kafkatest.WithTopic(opsTopic, 3), kafkatest.WithTopic("other", 1))
	brokers := strings.Join(k.Addrs(), ",")
	dir := t.TempDir()
	fillSpool(t, dir, opsTopic, 30)

	// Refused while another process (here: this one) has it open.
	s, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := cli(t, context.Background(), deps{}, nil, "spool", "drain", dir, "--brokers", brokers)
	if r.code != 1 || !strings.Contains(lastLine(r.stderr), "is in use by process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("drain of a spool in use: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	s.Close()

	// Records for another topic than --topic: refused, nothing published.
	r = cli(t, context.Background(), deps{}, nil, "spool", "drain", dir, "--brokers", brokers, "--topic", "other")
	if r.code != 1 || !strings.Contains(lastLine(r.stderr), `records for topic "fanout.ops"`) {
		t.Fatalf("drain into the wrong topic: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	var out spoolDrained
	cliJSON(t, 0, &out, deps{}, "spool", "drain", dir, "--brokers", brokers, "--topic", opsTopic)
	if out.Drained != 30 || out.Left != 0 {
		t.Fatalf("drain: %+v", out)
	}
	if info, err := spool.Inspect(dir); err != nil || info.Records != 0 {
		t.Fatalf("spool after drain: %+v %v", info, err)
	}
	recs := k.ConsumeAll(t, opsTopic, 30*time.Second)
	if len(recs) != 30 {
		t.Fatalf("%d records in Kafka, want 30", len(recs))
	}
	// In order per key, headers kept.
	last := map[string]int{}
	for _, rec := range recs {
		n, _ := strconv.Atoi(string(rec.Value))
		if prev, ok := last[string(rec.Key)]; ok && n <= prev {
			t.Fatalf("key %s: %d after %d", rec.Key, n, prev)
		}
		last[string(rec.Key)] = n
		if len(rec.Headers) != 1 || rec.Headers[0].Key != "h" {
			t.Fatalf("headers %v", rec.Headers)
		}
	}
	// Nothing left: a second drain drains nothing, successfully.
	cliJSON(t, 0, &out, deps{}, "spool", "drain", dir, "--brokers", brokers)
	if out.Drained != 0 {
		t.Fatalf("second drain: %+v", out)
	}
}
