package searchemu

import (
	"testing"
	"time"
)

func TestUnsignedLongValue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   any
		want uint64
		ok   bool
	}{
		{"max", jsonNum{raw: "18446744073709551615"}, 18446744073709551615, true},
		{"2^64", jsonNum{raw: "18446744073709551616"}, 0, false},
		{"negative", jsonNum{raw: "-1"}, 0, false},
		{"fraction truncates", jsonNum{raw: "1.9", float: true}, 1, true},
		{"string", "9223372036854775808", 9223372036854775808, true},
		{"string fraction", "-0.5", 0, true},
		{"string exponent", "1e3", 1000, true},
		{"not a number", "abc", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := unsignedLongValue(tc.in)
			if ok != tc.ok || got != tc.want {
				t.Errorf("unsignedLongValue(%v) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestJavaInstant(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   time.Time
		want string
	}{
		{"whole second", time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), "1969-12-31T23:59:59Z"},
		{"millis", time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC), "1969-12-31T23:59:59.999Z"},
		{"micros", time.Date(2024, 5, 1, 0, 0, 0, 1000, time.UTC), "2024-05-01T00:00:00.000001Z"},
		{"nanos", time.Date(2024, 5, 1, 0, 0, 0, 1, time.UTC), "2024-05-01T00:00:00.000000001Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := javaInstant(tc.in); got != tc.want {
				t.Errorf("javaInstant = %s, want %s", got, tc.want)
			}
		})
	}
}

// FuzzNumbersAndDates checks that the exact number and date parsers never panic, that
// a string unsigned_long value is accepted at index time exactly when it can be indexed,
// and that a date bound never rounds up below where it rounds down.
func FuzzNumbersAndDates(f *testing.F) {
	for _, s := range []string{"18446744073709551615", "-0.5", "1e400", "+-1", "2024-05-01", "2024-05-01T12:00:00.123456789+02:00", "1714564800000", "now/d", "1.5e-3"} {
		f.Add(s)
	}
	mp, _ := parseMappingDef(mustObj(`{"properties":{"u":{"type":"unsigned_long"},"dn":{"type":"date_nanos"},"n":{"type":"long"},"nest":{"type":"nested"}}}`))
	ec := &evalCtx{m: mp, now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	f.Fuzz(func(t *testing.T, s string) {
		_, indexable := unsignedLongValue(s)
		if accepted := unsignedFromString(s) == nil; accepted != indexable {
			t.Fatalf("%q: accepted %v but indexable %v", s, accepted, indexable)
		}
		_, _ = longValue(s)
		_, _ = queryRat(s)
		for _, typ := range []string{"date", "date_nanos"} {
			m := &mapper{typ: typ}
			if lo, hi, ok := ec.dateQueryBounds(m, s, ""); ok && hi < lo {
				t.Fatalf("%q as %s: rounds up to %d, below %d", s, typ, hi, lo)
			}
		}
		doc := []byte(`{"u":` + s + `,"dn":"` + s + `","n":"` + s + `","nest.x":1}`)
		if _, err := walkSource(mp, doc, "1"); err != nil && (err.status != 400 || err.typ == "" || err.reason == "") {
			t.Fatalf("bad error %+v", err)
		}
	})
}
