package replicator_test

import (
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/services/replicator"
)

func TestIncluded(t *testing.T) {
	tests := []struct {
		name             string
		index            string
		include, exclude []string
		want             bool
	}{
		{name: "star includes all", index: "logs-2026", include: []string{"*"}, want: true},
		{name: "prefix glob", index: "logs-2026", include: []string{"logs-*"}, want: true},
		{name: "no match", index: "metrics", include: []string{"logs-*"}, want: false},
		{name: "second pattern", index: "metrics", include: []string{"logs-*", "metr*"}, want: true},
		{name: "exclude wins", index: "logs-tmp", include: []string{"*"}, exclude: []string{"*-tmp"}, want: false},
		{name: "exclude hidden", index: ".kibana", include: []string{"*"}, exclude: []string{".*"}, want: false},
		{name: "inner stars", index: "logs-eu-2026.01", include: []string{"logs-*-2026*"}, want: true},
		{name: "star matches nothing too", index: "logs-", include: []string{"logs-*"}, want: true},
		{name: "whole name", index: "logs-2026x", include: []string{"logs-*6"}, want: false},
		{name: "case-sensitive", index: "logs", include: []string{"Logs*"}, want: false},
		{name: "many stars", index: strings.Repeat("a", 40), include: []string{"*a*a*a*a*a*a*a*a*b"}, want: false},
		{name: "nothing included", index: "a", include: nil, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := replicator.Included(tt.index, tt.include, tt.exclude); got != tt.want {
				t.Errorf("Included(%q, %q, %q) = %v, want %v", tt.index, tt.include, tt.exclude, got, tt.want)
			}
		})
	}
}

func TestCheckIndexPattern(t *testing.T) {
	for _, p := range []string{"*", "logs-*", ".kibana*", "*-tmp", "a]"} {
		if err := replicator.CheckIndexPattern(p); err != nil {
			t.Errorf("CheckIndexPattern(%q) = %v, want nil", p, err)
		}
	}
	// What path.Match read as a wildcard, a class or an escape is refused, not read
	// literally: a configuration written for that syntax must not silently change meaning.
	for _, p := range []string{"", "metr?cs", "shard-[0-4]", `logs\*`} {
		if err := replicator.CheckIndexPattern(p); err == nil {
			t.Errorf("CheckIndexPattern(%q) = nil, want an error", p)
		}
	}
}

func TestRenameIndex(t *testing.T) {
	tests := []struct {
		name, template, index, want string
	}{
		{name: "keep", template: "{index}", index: "logs", want: "logs"},
		{name: "suffix", template: "{index}-dr", index: "logs", want: "logs-dr"},
		{name: "prefix", template: "dr-{index}", index: "logs", want: "dr-logs"},
		{name: "twice", template: "{index}-{index}", index: "a", want: "a-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := replicator.RenameIndex(tt.template, tt.index); got != tt.want {
				t.Errorf("RenameIndex(%q, %q) = %q, want %q", tt.template, tt.index, got, tt.want)
			}
		})
	}
}

func TestDLQTopic(t *testing.T) {
	tests := []struct{ template, topic, cluster, want string }{
		{"{topic}.dlq.{cluster}", "fanout.ops", "b", "fanout.ops.dlq.b"},
		{"dead-letters", "fanout.ops", "b", "dead-letters"},
		{"{cluster}-dlq", "x", "eu-west", "eu-west-dlq"},
	}
	for _, tt := range tests {
		if got := replicator.DLQTopic(tt.template, tt.topic, tt.cluster); got != tt.want {
			t.Errorf("DLQTopic(%q, %q, %q) = %q, want %q", tt.template, tt.topic, tt.cluster, got, tt.want)
		}
	}
}
