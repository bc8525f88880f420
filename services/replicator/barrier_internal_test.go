package replicator

import "testing"

func TestParseBarrierCommit(t *testing.T) {
	tests := []struct {
		name, meta string
		id         string
		off        int64
		ok         bool
	}{
		{name: "written by barrierCommitMetadata", meta: barrierCommitMetadata("abc", 42), id: "abc", off: 42, ok: true},
		{name: "a member id (the client's own commits)", meta: "kgo-1234-abcd"},
		{name: "empty", meta: ""},
		{name: "no offset", meta: "fanout-barrier abc"},
		{name: "bad offset", meta: "fanout-barrier abc x1"},
		{name: "no id", meta: "fanout-barrier  5"},
		{name: "an id with a space", meta: barrierCommitMetadata("a b", 7), id: "a b", off: 7, ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, off, ok := parseBarrierCommit(tc.meta)
			if id != tc.id || off != tc.off || ok != tc.ok {
				t.Errorf("parseBarrierCommit(%q) = %q, %d, %v; want %q, %d, %v", tc.meta, id, off, ok, tc.id, tc.off, tc.ok)
			}
		})
	}
}
