package searchemu

import (
	"reflect"
	"strings"
	"testing"
)

// TestJavaHashSetOrder pins javaHashSetOrder to java.util.HashSet's iteration order; the
// expectations were printed by OpenJDK 17 (new HashSet<>(), add in the given order,
// toString).
func TestJavaHashSetOrder(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
	}{
		{"two", "index.codec,index.number_of_shards", "index.codec,index.number_of_shards"},
		{"five", "index.codec,index.sort.field,index.number_of_shards,index.analysis.analyzer.a.type,index.store.type",
			"index.analysis.analyzer.a.type,index.codec,index.sort.field,index.number_of_shards,index.store.type"},
		{"resized past twelve", "index.a,index.b,index.c,index.d,index.e,index.f,index.g,index.h,index.i,index.j,index.k,index.l,index.m,index.n",
			"index.l,index.m,index.n,index.a,index.b,index.c,index.h,index.i,index.j,index.k,index.d,index.e,index.f,index.g"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Split(tc.in, ",")
			if got, want := javaHashSetOrder(in, javaStringHashes(in)), strings.Split(tc.want, ","); !reflect.DeepEqual(got, want) {
				t.Errorf("order\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestLuceneDistanceThreshold: Java computes 1.0f - 3f/10 > 0.7f as false (OpenJDK 17), so
// a key 3 edits away from a 10-character one is no suggestion.
func TestLuceneDistanceThreshold(t *testing.T) {
	t.Parallel()
	if d := luceneDistance("abcdefghij", "abcdefgxyz"); d > 0.7 {
		t.Errorf("3 edits in 10: %v must not be more than 0.7f", d)
	}
	if d := luceneDistance("abcdefghij", "abcdefghxy"); !(d > 0.7) {
		t.Errorf("2 edits in 10: %v must be more than 0.7f", d)
	}
}
