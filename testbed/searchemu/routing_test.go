package searchemu

import (
	"encoding/json"
	"os"
	"testing"
)

// routingFixture is testdata/opensearch_routing.json: expected values copied from
// OpenSearch's own unit tests (the file names them).
type routingFixture struct {
	Murmur3 []struct {
		Input string `json:"input"`
		Hash  uint32 `json:"hash"`
	} `json:"murmur3"`
	NumRoutingShards [][2]int `json:"num_routing_shards"`
	Tables           []struct {
		Name          string                    `json:"name"`
		Shards        int                       `json:"number_of_shards"`
		RoutingShards int                       `json:"number_of_routing_shards"`
		Partition     int                       `json:"routing_partition_size"`
		Routings      map[string]map[string]int `json:"routings"`
	} `json:"tables"`
}

func loadRoutingFixture(t *testing.T) routingFixture {
	t.Helper()
	raw, err := os.ReadFile("testdata/opensearch_routing.json")
	if err != nil {
		t.Fatalf("reading routing fixture: %v", err)
	}
	var f routingFixture
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("decoding routing fixture: %v", err)
	}
	return f
}

// TestMurmur3KnownValues pins the hash against Murmur3HashFunctionTests.testKnownValues.
func TestMurmur3KnownValues(t *testing.T) {
	for _, c := range loadRoutingFixture(t).Murmur3 {
		t.Run(c.Input, func(t *testing.T) {
			if got := uint32(murmur3String(c.Input)); got != c.Hash {
				t.Errorf("murmur3(%q) = %#08x, want %#08x", c.Input, got, c.Hash)
			}
		})
	}
}

// TestMurmur3UTF16 checks that the hash runs over UTF-16 code units, low byte first: "é"
// is the one unit 0x00E9, and a character outside the basic plane is its surrogate pair.
func TestMurmur3UTF16(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		units []byte
	}{
		{"latin-1 character", "\u00e9", []byte{0xE9, 0x00}},
		{"supplementary character", "\U0001F600", []byte{0x3D, 0xD8, 0x00, 0xDE}},
		{"mixed", "a\u20ac", []byte{'a', 0x00, 0xAC, 0x20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := uint32(murmur3String(tc.in)), murmur3x86_32(tc.units, 0); got != want {
				t.Errorf("murmur3(%q) = %#08x, want %#08x", tc.in, got, want)
			}
		})
	}
}

// TestDefaultRoutingShards pins calculateNumRoutingShards
// (MetadataCreateIndexServiceTests.testCalculateNumRoutingShards).
func TestDefaultRoutingShards(t *testing.T) {
	for _, c := range loadRoutingFixture(t).NumRoutingShards {
		if got := defaultRoutingShards(c[0]); got != c[1] {
			t.Errorf("defaultRoutingShards(%d) = %d, want %d", c[0], got, c[1])
		}
	}
}

// TestShardOfOpenSearchTables pins the placement of ids and routings against
// OperationRoutingTests (testBWC, testPartitionedIndexBWC, testPartitionedIndexShrunk).
func TestShardOfOpenSearchTables(t *testing.T) {
	for _, tab := range loadRoutingFixture(t).Tables {
		t.Run(tab.Name, func(t *testing.T) {
			rt, err := newRoutingTable("test", map[string]string{
				"index.number_of_routing_shards": itoa(int64(tab.RoutingShards)),
				"index.routing_partition_size":   itoa(int64(tab.Partition)),
			}, tab.Shards)
			if err != nil {
				t.Fatalf("routing table: %v", err)
			}
			for routing, ids := range tab.Routings {
				for id, want := range ids {
					if routing == "" {
						// testBWC: the term as the _id, and as a routing for the id "foobar"
						if got := rt.shardOf(id, "", false); got != want {
							t.Errorf("shard of _id %q = %d, want %d", id, got, want)
						}
						if got := rt.shardOf("foobar", id, true); got != want {
							t.Errorf("shard of routing %q = %d, want %d", id, got, want)
						}
						continue
					}
					if got := rt.shardOf(id, routing, true); got != want {
						t.Errorf("shard of _id %q routing %q = %d, want %d", id, routing, got, want)
					}
				}
			}
		})
	}
}

// TestShardOfDefaultRoutingShards checks that an index created without
// number_of_routing_shards hashes into 1024 routing shards (the real default), so the
// placement differs from a plain hash modulo the shard count.
func TestShardOfDefaultRoutingShards(t *testing.T) {
	rt, err := newRoutingTable("test", map[string]string{}, 8)
	if err != nil {
		t.Fatalf("routing table: %v", err)
	}
	if rt.routingShards != 1024 || rt.factor != 128 {
		t.Fatalf("8 shards: routing_num_shards %d factor %d, want 1024 and 128", rt.routingShards, rt.factor)
	}
	// murmur3("hello") = 0xd7c31989 = -675079799; floorMod(·, 1024) = 393; 393/128 = 3
	// (while floorMod(·, 8) would be 1)
	if got := rt.shardOf("hello", "", false); got != 3 {
		t.Errorf("shard of hello = %d, want 3", got)
	}
}

// TestRoutingTableValidation covers IndexMetadata's checks of the routing settings.
func TestRoutingTableValidation(t *testing.T) {
	tests := []struct {
		name     string
		shards   int
		settings map[string]string
		reason   string
	}{
		{"routing shards below shards", 8, map[string]string{"index.number_of_routing_shards": "4"}, "index.number_of_routing_shards [4] must be >= index.number_of_shards [8]"},
		{"routing shards not a multiple", 2, map[string]string{"index.number_of_routing_shards": "3"}, "the number of source shards [2] must be a factor of [3]"},
		{"partition size zero", 2, map[string]string{"index.routing_partition_size": "0"}, "Failed to parse value [0] for setting [index.routing_partition_size] must be >= 1"},
		{"partition size not below routing shards", 2, map[string]string{"index.number_of_routing_shards": "4", "index.routing_partition_size": "4"}, "routing partition size [4] should be a positive number less than the number of shards [4] for [test]"},
		{"partition size below the default routing shards", 2, map[string]string{"index.routing_partition_size": "3"}, ""},
		{"equal routing shards", 3, map[string]string{"index.number_of_routing_shards": "3"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newRoutingTable("test", tc.settings, tc.shards)
			switch {
			case tc.reason == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.reason != "" && err == nil:
				t.Errorf("want error %q, got none", tc.reason)
			case tc.reason != "" && err.reason != tc.reason:
				t.Errorf("reason = %q, want %q", err.reason, tc.reason)
			}
		})
	}
}

// TestParsePreference covers the _shards preference syntax.
func TestParsePreference(t *testing.T) {
	tests := []struct {
		pref    string
		es7     bool
		allowed []int
		denied  []int
		errType string
	}{
		{pref: "", allowed: []int{0, 1, 7}},
		{pref: "_local", allowed: []int{0, 3}},
		{pref: "my-session", allowed: []int{0, 3}},
		{pref: "_shards:1", allowed: []int{1}, denied: []int{0, 2}},
		{pref: "_shards:0,2", allowed: []int{0, 2}, denied: []int{1}},
		{pref: "_shards:2|_local", allowed: []int{2}, denied: []int{0}},
		{pref: "_shards:x", errType: typeNumberFormat},
		{pref: "_nope", errType: typeIllegalArgument},
		{pref: "_shards:1|_nope", errType: typeIllegalArgument},
		{pref: "_primary", allowed: []int{0, 1}},
		{pref: "_primary", es7: true, errType: typeIllegalArgument},
		{pref: "_shards", errType: "string_index_out_of_bounds_exception"},
		{pref: "_shards:1|custom", errType: typeIllegalArgument},
		{pref: "_shards:1|_shards:2", errType: typeIllegalArgument},
		{pref: "_shards:1, 2", errType: typeNumberFormat},
		{pref: "_shards:", denied: []int{0, 1}},
		{pref: "_shards:99999999999", errType: typeNumberFormat},
	}
	for _, tc := range tests {
		t.Run(tc.pref, func(t *testing.T) {
			p, err := parsePreference(tc.pref, tc.es7)
			if tc.errType != "" {
				if err == nil || err.typ != tc.errType {
					t.Fatalf("want %s, got %v", tc.errType, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			for _, n := range tc.allowed {
				if !p.allows(n) {
					t.Errorf("shard %d should be allowed", n)
				}
			}
			for _, n := range tc.denied {
				if p.allows(n) {
					t.Errorf("shard %d should not be allowed", n)
				}
			}
		})
	}
}

// FuzzMurmur3String checks the streaming UTF-16 encoding against utf16 encoding done the
// slow way, for any string a request can carry.
func FuzzMurmur3String(f *testing.F) {
	for _, s := range []string{"", "a", "hello", "é", "\U0001F600x", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b []byte
		for _, r := range s {
			if r >= 0x10000 {
				r -= 0x10000
				hi, lo := 0xD800+(r>>10), 0xDC00+(r&0x3ff)
				b = append(b, byte(hi), byte(hi>>8), byte(lo), byte(lo>>8))
				continue
			}
			b = append(b, byte(r), byte(r>>8))
		}
		if got, want := uint32(murmur3String(s)), murmur3x86_32(b, 0); got != want {
			t.Errorf("murmur3String(%q) = %#x, want %#x", s, got, want)
		}
	})
}

// FuzzParsePreference feeds arbitrary preference parameters (untrusted URL input) to the
// parser: it must answer a preference or an error, never panic, and a _shards list it
// accepts must name only the shards it parsed.
func FuzzParsePreference(f *testing.F) {
	for _, s := range []string{"", "_shards", "_shards:", "_shards:1,2|_local", "_shards:|", "_only_nodes:a,b", "_x", "custom", "_shards:-1"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, es7 bool) {
		p, err := parsePreference(s, es7)
		if err != nil {
			if p != nil {
				t.Errorf("parsePreference(%q) returned both a preference and %v", s, err)
			}
			return
		}
		if p != nil && len(s) < len("_shards:") {
			t.Errorf("parsePreference(%q) limited shards without a _shards: prefix", s)
		}
		_ = parseSearchRouting(s)
	})
}
