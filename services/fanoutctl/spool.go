package fanoutctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/pkg/spool"
	"github.com/fanout-dev/fanout/services/proxy"
)

// spoolStatus is what spool status prints with -o json.
type spoolStatus struct {
	spool.Info
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}

// parseDir parses a spool command's flags around its one positional argument, the
// spool directory (before or after the flags).
func parseDir(fs *flag.FlagSet, args []string, c *common) (string, error) {
	var dir string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dir, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if dir == "" && len(rest) > 0 {
		dir, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		return "", usagef("%s: unexpected arguments: %s", fs.Name(), strings.Join(rest, " "))
	}
	if dir == "" {
		return "", usagef("%s: the spool directory is required (the proxy's spool.dir)", fs.Name())
	}
	switch c.output {
	case "table", "text", "json", "":
	default:
		return "", usagef("%s: -o must be table or json, got %q", fs.Name(), c.output)
	}
	return dir, nil
}

// checkSpoolDir refuses a path that is not a spool directory, rather than report an
// empty spool for a typo.
func checkSpoolDir(name, dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: %s is not a directory", name, dir)
	}
	lock, _ := filepath.Glob(filepath.Join(dir, "LOCK"))
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(lock) == 0 && len(segs) == 0 {
		return fmt.Errorf("%s: %s is not a spool directory (no LOCK file, no segments)", name, dir)
	}
	return nil
}

func runSpoolStatus(_ context.Context, args []string, e *env) error {
	var f common
	fs := newFlagSet("spool status", e)
	f.register(fs, flagOutput)
	dir, err := parseDir(fs, args, &f)
	if err != nil {
		return err
	}
	if err := checkSpoolDir(fs.Name(), dir); err != nil {
		return err
	}
	info, err := spool.Inspect(dir)
	if err != nil {
		return fmt.Errorf("spool status: %w", err)
	}
	st := spoolStatus{Info: info}
	if !info.Oldest.IsZero() {
		st.OldestAgeSeconds = e.now().Sub(info.Oldest).Seconds()
	}
	if f.json() {
		return writeJSON(e.stdout, st)
	}
	t := newTable(e.stdout, "DIR", "RECORDS", "BYTES", "OLDEST AGE", "SEGMENTS", "DRAINED UP TO", "LOCKED BY")
	age, locked := "", "nobody"
	if !info.Oldest.IsZero() {
		age = (time.Duration(st.OldestAgeSeconds * float64(time.Second))).Round(time.Second).String()
	}
	if info.Locked {
		locked = "a process"
		if info.PID > 0 {
			locked = "pid " + strconv.Itoa(info.PID)
		}
	}
	t.row(dir, strconv.FormatInt(info.Records, 10), strconv.FormatInt(info.Bytes, 10), age,
		strconv.Itoa(info.Segments), info.Drained.String(), locked)
	t.flush()
	if info.TornBytes > 0 {
		fmt.Fprintf(e.stderr, "fanoutctl: note: the last segment ends in a torn write of %d bytes (never acknowledged), truncated at the next open\n", info.TornBytes)
	}
	return nil
}

// spoolDrained is what spool drain prints with -o json.
type spoolDrained struct {
	Dir     string `json:"dir"`
	Drained int64  `json:"drained"`
	Left    int64  `json:"left"`
}

func runSpoolDrain(ctx context.Context, args []string, e *env) error {
	var f common
	fs := newFlagSet("spool drain", e)
	f.register(fs, flagConfig|flagBrokers|flagTopic|flagOutput)
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long; what is not drained stays in the spool")
	dir, err := parseDir(fs, args, &f)
	if err != nil {
		return err
	}
	if *timeout <= 0 {
		return usagef("spool drain: --timeout must be positive")
	}
	s, err := f.load(e)
	if err != nil {
		return err
	}
	if err := checkSpoolDir(fs.Name(), dir); err != nil {
		return err
	}
	// The lock: a proxy running on this directory drains it itself, and refuses us.
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		return fmt.Errorf("spool drain: %w", err)
	}
	defer sp.Close()
	// Every record must be for one of the ops topics: a spool drained into the wrong
	// Kafka cluster or topic would be a silent mess.
	if err := checkSpoolTopics(sp, s.cfg.Consume.Topics); err != nil {
		return fmt.Errorf("spool drain: %w; nothing was published", err)
	}
	pub := proxy.DefaultConfig().Publish
	popts, err := proxy.DrainProducerOpts(pub)
	if err != nil {
		return err
	}
	cl, err := kafkaClient(s, e, popts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var done int64
	for {
		n, err := proxy.DrainBatch(ctx, sp, cl, slog.New(slog.DiscardHandler))
		done += int64(n)
		if err != nil {
			left := sp.Stats().Records
			if f.json() {
				_ = writeJSON(e.stdout, spoolDrained{Dir: dir, Drained: done, Left: left})
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return partialf("spool drain: drained %d records, %d left: not all acknowledged by Kafka within --timeout %s (%v)", done, left, *timeout, err)
			}
			return partialf("spool drain: drained %d records, %d left: %v", done, left, err)
		}
		if n == 0 {
			break
		}
	}
	if f.json() {
		return writeJSON(e.stdout, spoolDrained{Dir: dir, Drained: done})
	}
	fmt.Fprintf(e.stdout, "drained %d records from %s to Kafka; the spool is empty\n", done, dir)
	return nil
}

// checkSpoolTopics reads the spool through and refuses records for a topic not in
// topics.
func checkSpoolTopics(sp *spool.Spool, topics []string) error {
	ok := map[string]bool{}
	for _, t := range topics {
		ok[t] = true
	}
	pos := sp.Drained()
	for {
		es, err := sp.Read(pos, 4096, 8<<20)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return nil
		}
		for _, en := range es {
			if en.Type != spool.TypeKafkaRecord {
				return fmt.Errorf("entry at %s has type %d, not a Kafka record", en.Pos, en.Type)
			}
			rec, err := spool.DecodeKafkaRecord(en.Payload)
			if err != nil {
				return fmt.Errorf("entry at %s: %w", en.Pos, err)
			}
			if !ok[rec.Topic] {
				return fmt.Errorf("the spool holds records for topic %q, not %s (--topic)", rec.Topic, strings.Join(topics, ","))
			}
		}
		pos = es[len(es)-1].Next
	}
}
