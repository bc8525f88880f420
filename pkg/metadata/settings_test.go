package metadata

import (
	"reflect"
	"testing"
)

func TestSettingsCompared(t *testing.T) {
	s := Settings{Ignore: []string{"index.search.slowlog.*", "codec"}, Compare: []string{"blocks.write"}}
	for _, c := range []struct {
		setting string
		want    bool
	}{
		{"index.number_of_shards", true},
		{"index.number_of_routing_shards", true},
		{"index.refresh_interval", true},
		{"index.analysis.analyzer.folding.type", true},
		{"index.number_of_replicas", false},
		{"index.auto_expand_replicas", false},
		{"index.uuid", false},
		{"index.creation_date", false},
		{"index.provided_name", false},
		{"index.version.created", false},
		{"index.version.upgraded", false},
		{"index.routing.allocation.include._tier_preference", false},
		{"index.routing.rebalance.enable", false},
		{"index.resize.source.name", false},
		{"index.blocks.read_only", false},
		{"index.blocks.write", true}, // asked for with Compare
		{"index.search.slowlog.threshold.query.warn", false},
		{"index.codec", false}, // "codec" is read as index.codec
		{"index.routing_partition_size", true},
	} {
		if got := s.Compared(c.setting); got != c.want {
			t.Errorf("Compared(%q) = %v, want %v", c.setting, got, c.want)
		}
	}
	if !IsTargetLocal("index.number_of_replicas") || IsTargetLocal("index.number_of_shards") {
		t.Error("IsTargetLocal disagrees with TargetLocal")
	}
}

func TestFlatten(t *testing.T) {
	got := Flatten(map[string]any{
		"index":              map[string]any{"number_of_shards": "1", "analysis": map[string]any{"analyzer": map[string]any{"a": map[string]any{"type": "custom", "filter": []any{"lowercase"}}}}},
		"number_of_replicas": "0",
	})
	want := map[string]any{
		"index.number_of_shards":           "1",
		"index.analysis.analyzer.a.type":   "custom",
		"index.analysis.analyzer.a.filter": []any{"lowercase"},
		"index.number_of_replicas":         "0",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Flatten = %v, want %v", got, want)
	}
}
