package fanoutctl

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/fanout-dev/fanout/services/replicator"
)

// topicPlan is one topic topics create wants to exist.
type topicPlan struct {
	Topic             string            `json:"topic"`
	Role              string            `json:"role"` // ops or dlq
	Cluster           string            `json:"cluster,omitempty"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Configs           map[string]string `json:"configs"`
	// Action is create (dry run: what would happen), created, or exists.
	Action string `json:"action"`
	// Differences between the existing topic and the plan; never changed by the
	// command (partitions cannot shrink, and changing a live topic's settings is a
	// decision, not a side effect).
	Differences []string `json:"differences,omitempty"`
}

// topicsCreateFlags are the command line of topics create.
type topicsCreateFlags struct {
	common
	clusters      listFlag
	partitions    int
	dlqPartitions int
	rf            int
	minISR        int
	retention     time.Duration
	dlqRetention  time.Duration
	compression   string
	dryRun        bool
}

func runTopicsCreate(ctx context.Context, args []string, e *env) error {
	var f topicsCreateFlags
	fs := newFlagSet("topics create", e)
	f.register(fs, flagConfig|flagBrokers|flagTopic|flagOutput)
	fs.Var(&f.clusters, "cluster", "target cluster `name` whose DLQ topic to create; repeat or comma-separate (default: target.name of --config)")
	fs.IntVar(&f.partitions, "partitions", 12, "partitions of the ops topic")
	fs.IntVar(&f.dlqPartitions, "dlq-partitions", 0, "partitions of each DLQ topic (0: as many as the ops topic)")
	fs.IntVar(&f.rf, "replication-factor", 0, "replication factor (0: 3, or the number of brokers if fewer)")
	fs.IntVar(&f.minISR, "min-insync-replicas", 0, "min.insync.replicas (0: 2 with 3 or more replicas, else 1)")
	fs.DurationVar(&f.retention, "retention", 7*24*time.Hour, "retention.ms of the ops topic: how far back a new target can start, and how long a stopped replicator may stay behind")
	fs.DurationVar(&f.dlqRetention, "dlq-retention", replicator.DefaultConfig().Consume.DLQRetention, "retention.ms of the DLQ topics: how long an operator has to replay (the replicator's consume.dlq_retention default)")
	fs.StringVar(&f.compression, "compression", "producer", "compression.type: producer (keep the producer's), zstd, lz4, snappy, gzip or uncompressed")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the plan, create nothing")
	if err := parse(fs, args, &f.common); err != nil {
		return err
	}
	if f.partitions < 1 || f.partitions > 100000 {
		return usagef("topics create: --partitions must be between 1 and 100000, got %d", f.partitions)
	}
	if f.dlqPartitions < 0 || f.dlqPartitions > 100000 {
		return usagef("topics create: --dlq-partitions must be between 0 and 100000, got %d", f.dlqPartitions)
	}
	if f.rf < 0 || f.rf > 32767 {
		return usagef("topics create: --replication-factor must be positive, got %d", f.rf)
	}
	if f.minISR < 0 {
		return usagef("topics create: --min-insync-replicas must be positive, got %d", f.minISR)
	}
	if f.retention < time.Minute || f.dlqRetention < time.Minute {
		return usagef("topics create: --retention and --dlq-retention must be at least 1m")
	}
	switch f.compression {
	case "producer", "zstd", "lz4", "snappy", "gzip", "uncompressed":
	default:
		return usagef("topics create: --compression must be producer, zstd, lz4, snappy, gzip or uncompressed, got %q", f.compression)
	}
	s, err := f.load(e)
	if err != nil {
		return err
	}
	clusters := []string(f.clusters)
	if len(clusters) == 0 && s.cfg.Target.Name != "" {
		clusters = []string{s.cfg.Target.Name}
	}
	for _, c := range clusters {
		if strings.ContainsAny(c, " /\\\t\n") {
			return usagef("topics create: --cluster %q must not contain spaces or slashes", c)
		}
	}

	adm, closeAdm, err := adminClient(s, e)
	if err != nil {
		return err
	}
	defer closeAdm()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	brokers, err := adm.ListBrokers(ctx)
	if err != nil {
		return fmt.Errorf("listing the Kafka brokers: %w", err)
	}
	rf := f.rf
	if rf == 0 {
		rf = min(3, len(brokers))
	}
	if rf > len(brokers) {
		return usagef("topics create: --replication-factor %d exceeds the %d broker(s) of the cluster", rf, len(brokers))
	}
	minISR := f.minISR
	if minISR == 0 {
		minISR = 1
		if rf >= 3 {
			minISR = 2
		}
	}
	if minISR > rf {
		return usagef("topics create: --min-insync-replicas %d exceeds the replication factor %d: no write could succeed", minISR, rf)
	}

	var plans []*topicPlan
	for _, t := range s.cfg.Consume.Topics {
		plans = append(plans, &topicPlan{Topic: t, Role: "ops", Partitions: int32(f.partitions), ReplicationFactor: int16(rf),
			Configs: topicConfigs(f.retention, minISR, f.compression)})
		dlqParts := f.dlqPartitions
		if dlqParts == 0 {
			dlqParts = f.partitions
		}
		for _, c := range clusters {
			plans = append(plans, &topicPlan{Topic: replicator.DLQTopic(s.cfg.Consume.DLQTopic, t, c), Role: "dlq", Cluster: c,
				Partitions: int32(dlqParts), ReplicationFactor: int16(rf),
				Configs: topicConfigs(f.dlqRetention, minISR, f.compression)})
		}
	}
	if len(clusters) == 0 {
		fmt.Fprintln(e.stderr, "fanoutctl: warning: no --cluster given: no DLQ topic planned (replicators create theirs with default settings)")
	}

	if err := comparePlans(ctx, adm, plans); err != nil {
		return err
	}
	var failed []string
	for _, p := range plans {
		if p.Action != "create" || f.dryRun {
			continue
		}
		cfgs := map[string]*string{}
		for k, v := range p.Configs {
			cfgs[k] = kadm.StringPtr(v)
		}
		_, err := adm.CreateTopic(ctx, p.Partitions, p.ReplicationFactor, cfgs, p.Topic)
		switch {
		case err == nil:
			p.Action = "created"
		case errors.Is(err, kerr.TopicAlreadyExists):
			// Created meanwhile by someone else (a replicator creates its DLQ topic).
			p.Action = "exists"
			p.Differences = append(p.Differences, "created concurrently by someone else; settings not checked")
		default:
			p.Action = "failed"
			failed = append(failed, fmt.Sprintf("%s: %v", p.Topic, err))
		}
	}
	for _, p := range plans {
		for _, d := range p.Differences {
			fmt.Fprintf(e.stderr, "fanoutctl: warning: topic %s exists and differs from the plan: %s (not changed)\n", p.Topic, d)
		}
	}

	if f.json() {
		if err := writeJSON(e.stdout, struct {
			DryRun bool         `json:"dry_run"`
			Topics []*topicPlan `json:"topics"`
		}{f.dryRun, plans}); err != nil {
			return err
		}
	} else {
		if f.dryRun {
			fmt.Fprintln(e.stdout, "dry run: nothing is created")
		}
		t := newTable(e.stdout, "TOPIC", "ROLE", "ACTION", "PARTITIONS", "RF", "RETENTION", "MIN.ISR", "COMPRESSION")
		for _, p := range plans {
			action := p.Action
			if f.dryRun && action == "create" {
				action = "would create"
			}
			if len(p.Differences) > 0 {
				action += " (differs)"
			}
			role := p.Role
			if p.Cluster != "" {
				role += " " + p.Cluster
			}
			ms, _ := strconv.ParseInt(p.Configs["retention.ms"], 10, 64)
			t.row(p.Topic, role, action, strconv.Itoa(int(p.Partitions)), strconv.Itoa(int(p.ReplicationFactor)),
				duration(time.Duration(ms)*time.Millisecond), p.Configs["min.insync.replicas"], p.Configs["compression.type"])
		}
		t.flush()
	}
	if len(failed) > 0 {
		return partialf("creating %d of %d topics failed: %s", len(failed), len(plans), strings.Join(failed, "; "))
	}
	return nil
}

func topicConfigs(retention time.Duration, minISR int, compression string) map[string]string {
	return map[string]string{
		"retention.ms":        strconv.FormatInt(retention.Milliseconds(), 10),
		"min.insync.replicas": strconv.Itoa(minISR),
		"compression.type":    compression,
	}
}

// comparePlans sets each plan's action, create or exists, and lists how existing
// topics differ from it.
func comparePlans(ctx context.Context, adm *kadm.Client, plans []*topicPlan) error {
	names := make([]string, len(plans))
	for i, p := range plans {
		names[i] = p.Topic
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("reading topic metadata: %w", err)
	}
	var existing []string
	for _, p := range plans {
		d, ok := details[p.Topic]
		if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			p.Action = "create"
			continue
		}
		if d.Err != nil {
			return fmt.Errorf("reading metadata of topic %s: %w", p.Topic, d.Err)
		}
		p.Action = "exists"
		existing = append(existing, p.Topic)
		if n := int32(len(d.Partitions)); n != p.Partitions {
			p.Differences = append(p.Differences, fmt.Sprintf("%d partitions, plan %d", n, p.Partitions))
		}
		for _, part := range d.Partitions {
			if rf := len(part.Replicas); rf != int(p.ReplicationFactor) {
				p.Differences = append(p.Differences, fmt.Sprintf("replication factor %d, plan %d", rf, p.ReplicationFactor))
				break
			}
		}
	}
	if len(existing) == 0 {
		return nil
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, existing...)
	if err != nil {
		return fmt.Errorf("reading the configuration of topics %s: %w", strings.Join(existing, ", "), err)
	}
	byTopic := map[string]*topicPlan{}
	for _, p := range plans {
		byTopic[p.Topic] = p
	}
	for _, rc := range rcs {
		p := byTopic[rc.Name]
		if p == nil || rc.Err != nil {
			continue
		}
		have := map[string]string{}
		for _, c := range rc.Configs {
			have[c.Key] = c.MaybeValue()
		}
		for _, k := range sortedKeys(p.Configs) {
			if v, ok := have[k]; ok && v != p.Configs[k] {
				p.Differences = append(p.Differences, fmt.Sprintf("%s=%s, plan %s", k, v, p.Configs[k]))
			}
		}
	}
	for _, p := range plans {
		sort.Strings(p.Differences)
	}
	return nil
}
