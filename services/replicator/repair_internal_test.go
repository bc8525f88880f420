package replicator

import (
	"testing"
	"time"
)

func TestParseTimeValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"60s", time.Minute, false}, {"500ms", 500 * time.Millisecond, false}, {"1m", time.Minute, false},
		{"1d", 24 * time.Hour, false}, {"-1", 0, false}, {"1000nanos", time.Microsecond, false},
		{"soon", 0, true}, {"xd", 0, true},
	} {
		got, err := parseTimeValue(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseTimeValue(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
