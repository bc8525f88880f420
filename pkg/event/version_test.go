package event

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestReplicationVersion(t *testing.T) {
	tests := []struct {
		name             string
		seqNo, term, ver int64
		hasSeqNo         bool
		want             int64
		wantErr          bool
	}{
		{name: "first write of a shard", seqNo: 0, term: 1, ver: 1, hasSeqNo: true, want: 1<<40 | 1},
		{name: "term in the high bits", seqNo: 41, term: 3, ver: 9, hasSeqNo: true, want: 3<<40 | 42},
		{name: "largest seq_no", seqNo: MaxSeqNo, term: 1, hasSeqNo: true, want: 1<<40 | (1<<40 - 1)},
		{name: "largest term and seq_no is MaxInt64", seqNo: MaxSeqNo, term: MaxPrimaryTerm, hasSeqNo: true, want: math.MaxInt64},
		{name: "version is ignored with seq_no", seqNo: 0, term: 1, ver: -5, hasSeqNo: true, want: 1<<40 | 1},
		{name: "fallback to _version", seqNo: 0, term: 0, ver: 7, want: 7},
		{name: "fallback ignores unassigned seq_no", seqNo: -2, term: 0, ver: 3, want: 3},
		{name: "fallback keeps large versions", ver: math.MaxInt64, want: math.MaxInt64},

		{name: "seq_no unassigned (-2)", seqNo: -2, term: 1, hasSeqNo: true, wantErr: true},
		{name: "seq_no no-ops-performed (-1)", seqNo: -1, term: 1, hasSeqNo: true, wantErr: true},
		{name: "seq_no carries into the term", seqNo: MaxSeqNo + 1, term: 1, hasSeqNo: true, wantErr: true},
		{name: "seq_no huge", seqNo: math.MaxInt64, term: 1, hasSeqNo: true, wantErr: true},
		{name: "term unassigned (0)", seqNo: 5, term: 0, hasSeqNo: true, wantErr: true},
		{name: "negative term", seqNo: 5, term: -1, hasSeqNo: true, wantErr: true},
		{name: "term overflows int64", seqNo: 0, term: MaxPrimaryTerm + 1, hasSeqNo: true, wantErr: true},
		{name: "fallback version 0", ver: 0, wantErr: true},
		{name: "fallback version negative", ver: -1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReplicationVersion(tt.seqNo, tt.term, tt.ver, tt.hasSeqNo)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ReplicationVersion = %d, want an error", got)
				}
				if !errors.Is(err, ErrVersionRange) {
					t.Errorf("error %v does not wrap ErrVersionRange", err)
				}
				if got != 0 {
					t.Errorf("value %d returned with the error, want 0", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReplicationVersion: %v", err)
			}
			if got != tt.want {
				t.Errorf("ReplicationVersion = %#x, want %#x", got, tt.want)
			}
		})
	}
}

// TestReplicationVersionOrdersLikeTermThenSeqNo checks the layout on random
// and boundary pairs: comparing two versions is comparing (term, seq_no)
// lexicographically, and every version is a positive int64.
func TestReplicationVersionOrdersLikeTermThenSeqNo(t *testing.T) {
	rng := rand.New(rand.NewPCG(20261122, 1))
	edgeSeq := []int64{0, 1, 2, 1<<32 - 1, 1 << 32, MaxSeqNo - 1, MaxSeqNo}
	edgeTerm := []int64{1, 2, 255, 256, MaxPrimaryTerm - 1, MaxPrimaryTerm}
	seq := func() int64 {
		if rng.IntN(4) == 0 {
			return edgeSeq[rng.IntN(len(edgeSeq))]
		}
		return rng.Int64N(MaxSeqNo + 1)
	}
	term := func() int64 {
		if rng.IntN(4) == 0 {
			return edgeTerm[rng.IntN(len(edgeTerm))]
		}
		return 1 + rng.Int64N(MaxPrimaryTerm)
	}
	for i := range 20000 {
		t1, s1 := term(), seq()
		t2, s2 := term(), seq()
		if i%3 == 0 {
			t2 = t1 // same term: seq_no alone decides
		}
		v1, err1 := ReplicationVersion(s1, t1, 0, true)
		v2, err2 := ReplicationVersion(s2, t2, 0, true)
		if err1 != nil || err2 != nil {
			t.Fatalf("in-range inputs refused: %v, %v", err1, err2)
		}
		if v1 < 1 || v2 < 1 {
			t.Fatalf("non-positive version: (%d,%d)->%d, (%d,%d)->%d", t1, s1, v1, t2, s2, v2)
		}
		want := cmp.Or(cmp.Compare(t1, t2), cmp.Compare(s1, s2))
		if got := cmp.Compare(v1, v2); got != want {
			t.Fatalf("(term %d, seq %d)->%#x vs (term %d, seq %d)->%#x compares %d, want %d",
				t1, s1, v1, t2, s2, v2, got, want)
		}
	}
}

// The shard simulation below models what the primary answers for each write
// of a document, the way Elasticsearch and OpenSearch number them:
//
//   - every operation on a shard takes the next _seq_no;
//   - a failover raises _primary_term; if the old primary had handed out
//     seq_nos for writes it never acknowledged, the new primary hands the
//     same numbers out again (those writes were never published);
//   - _version is the document's (or its live tombstone's) version + 1, and 1
//     for a document without either; a delete leaves a tombstone that expires
//     after index.gc_deletes, after which a re-create starts at _version 1.
//
// Only acknowledged writes are published, in the order the primary applied
// them, as the proxy does.
//
// Under these rules one document's published seq_nos already grow on their
// own: a seq_no handed out again only ever replaces a write nobody published.
// The term in the high bits guards against that assumption breaking (a write
// answered by a deposed primary), and TestReplicationVersionOrdersLikeTermThenSeqNo
// shows that the term decides first.

type simOp uint8

const (
	simIndex simOp = iota // create, overwrite or update: an INDEX event
	simDelete
)

func (o simOp) String() string { return [...]string{"index", "delete"}[o] }

// simWrite is one published event's numbers.
type simWrite struct {
	op                   simOp
	id                   string
	seqNo, term, version int64
	at                   time.Duration
	recreated            bool // index of a document that had been deleted
	tombstoneExpired     bool // ... and whose tombstone had expired
	seqReused            bool // seq_no was handed out before under an older term
}

type simDoc struct {
	version   int64
	live      bool
	deletedAt time.Duration // valid when !live and version > 0
}

type simShard struct {
	term      int64
	nextSeq   int64
	maxAcked  int64 // highest acknowledged seq_no, -1 before the first
	maxIssued int64 // highest seq_no ever handed out, under any term
	now       time.Duration
	gcDeletes time.Duration
	docs      map[string]*simDoc
	published []simWrite
}

func newSimShard(gcDeletes time.Duration) *simShard {
	return &simShard{term: 1, maxAcked: -1, maxIssued: -1, gcDeletes: gcDeletes, docs: map[string]*simDoc{}}
}

// write applies one acknowledged operation and publishes it.
func (s *simShard) write(op simOp, id string) {
	d := s.docs[id]
	if d == nil {
		d = &simDoc{}
		s.docs[id] = d
	}
	w := simWrite{op: op, id: id, seqNo: s.nextSeq, term: s.term, at: s.now, seqReused: s.nextSeq <= s.maxIssued}
	tombstoneLive := !d.live && d.version > 0 && s.now-d.deletedAt < s.gcDeletes
	switch {
	case d.live || tombstoneLive:
		d.version++
	default:
		w.tombstoneExpired = !d.live && d.version > 0
		d.version = 1
	}
	if op == simIndex {
		w.recreated = !d.live && (tombstoneLive || w.tombstoneExpired)
		d.live = true
	} else {
		d.live = false
		d.deletedAt = s.now
	}
	w.version = d.version
	s.maxIssued = max(s.maxIssued, s.nextSeq)
	s.maxAcked = s.nextSeq
	s.nextSeq++
	s.published = append(s.published, w)
}

// lostWrite hands out a seq_no for a write the primary never acknowledges.
// Nothing is published and the document is unchanged: the replicas that
// take over never saw it.
func (s *simShard) lostWrite() {
	s.maxIssued = max(s.maxIssued, s.nextSeq)
	s.nextSeq++
}

// failover promotes a replica: a higher term, and numbering resumes after the
// last acknowledged operation.
func (s *simShard) failover() {
	s.term++
	s.nextSeq = s.maxAcked + 1
}

// run drives the shard with n random steps over the given ids.
func (s *simShard) run(rng *rand.Rand, ids []string, n int) {
	for range n {
		switch p := rng.IntN(100); {
		case p < 50:
			s.write(simIndex, ids[rng.IntN(len(ids))])
		case p < 75:
			s.write(simDelete, ids[rng.IntN(len(ids))])
		case p < 82:
			for range 1 + rng.IntN(3) {
				s.lostWrite()
			}
			s.failover()
		case p < 85:
			s.failover()
		case p < 92:
			s.now += time.Duration(rng.Int64N(int64(s.gcDeletes / 4)))
		default:
			// Long enough for every tombstone to expire.
			s.now += s.gcDeletes + time.Duration(rng.Int64N(int64(s.gcDeletes)))
		}
	}
}

type versionFunc func(w simWrite) (int64, error)

func seqNoForm(w simWrite) (int64, error) {
	return ReplicationVersion(w.seqNo, w.term, w.version, true)
}

func versionForm(w simWrite) (int64, error) { return ReplicationVersion(0, 0, w.version, false) }

// firstRegression returns the first write of a document whose version does
// not compare strictly greater than the document's previous write, or ok.
func firstRegression(t *testing.T, writes []simWrite, f versionFunc) (prev, cur simWrite, ok bool) {
	t.Helper()
	last := map[string]simWrite{}
	lastV := map[string]int64{}
	for _, w := range writes {
		v, err := f(w)
		if err != nil {
			t.Fatalf("ReplicationVersion for %+v: %v", w, err)
		}
		if pv, seen := lastV[w.id]; seen && v <= pv {
			return last[w.id], w, false
		}
		last[w.id], lastV[w.id] = w, v
	}
	return simWrite{}, simWrite{}, true
}

func TestReplicationVersionShardSimulation(t *testing.T) {
	manyIDs := make([]string, 50)
	for i := range manyIDs {
		manyIDs[i] = fmt.Sprintf("doc-%d", i)
	}
	tests := []struct {
		name  string
		seed  uint64
		ids   []string
		steps int
	}{
		{name: "one id", seed: 1, ids: []string{"only"}, steps: 5000},
		{name: "one id other seed", seed: 2, ids: []string{"only"}, steps: 5000},
		{name: "three ids", seed: 3, ids: []string{"a", "b", "c"}, steps: 10000},
		{name: "many ids", seed: 4, ids: manyIDs, steps: 50000},
		{name: "many ids other seed", seed: 5, ids: manyIDs, steps: 50000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tt.seed, 0x5eed))
			s := newSimShard(60 * time.Second)
			s.run(rng, tt.ids, tt.steps)

			// The run must have exercised what the property is about,
			// or passing would prove nothing.
			var recreated, afterExpiry, reused, deletes int
			for _, w := range s.published {
				if w.recreated {
					recreated++
				}
				if w.tombstoneExpired {
					afterExpiry++
				}
				if w.seqReused {
					reused++
				}
				if w.op == simDelete {
					deletes++
				}
			}
			if s.term < 3 || recreated == 0 || afterExpiry == 0 || reused == 0 || deletes == 0 {
				t.Fatalf("simulation too tame: term %d, %d re-creates (%d after expiry), %d reused seq_nos, %d deletes",
					s.term, recreated, afterExpiry, reused, deletes)
			}

			if prev, cur, ok := firstRegression(t, s.published, seqNoForm); !ok {
				t.Errorf("seq_no form does not grow for %s: %+v then %+v", cur.id, prev, cur)
			}
			// The _version fallback fails on exactly this history: a
			// re-create after the tombstone expired starts at 1 again.
			prev, cur, ok := firstRegression(t, s.published, versionForm)
			if ok {
				t.Errorf("the _version fallback never went backwards; the simulation does not cover tombstone expiry")
			} else {
				t.Logf("_version fallback goes backwards for %s: _version %d (%s) then %d (%s)",
					cur.id, prev.version, prev.op, cur.version, cur.op)
			}
		})
	}
}

// TestReplicationVersionScenarios spells out the histories that matter, one
// document each, and says for each form whether it keeps the order.
func TestReplicationVersionScenarios(t *testing.T) {
	const gc = 60 * time.Second
	type step func(s *simShard)
	index := func(s *simShard) { s.write(simIndex, "x") }
	del := func(s *simShard) { s.write(simDelete, "x") }
	other := func(s *simShard) { s.write(simIndex, "other") }
	wait := func(d time.Duration) step { return func(s *simShard) { s.now += d } }
	lostThenFailover := func(s *simShard) { s.lostWrite(); s.lostWrite(); s.failover() }

	tests := []struct {
		name          string
		steps         []step
		versionsWant  []int64 // the primary's _version of x's writes
		fallbackOrder bool    // whether the _version fallback keeps the order
	}{
		{
			name:          "index then updates",
			steps:         []step{index, index, other, index},
			versionsWant:  []int64{1, 2, 3},
			fallbackOrder: true,
		},
		{
			name:          "delete then re-create within gc_deletes",
			steps:         []step{index, del, wait(gc / 2), index},
			versionsWant:  []int64{1, 2, 3},
			fallbackOrder: true,
		},
		{
			name:          "re-create after the tombstone expired",
			steps:         []step{index, index, del, wait(gc + time.Second), index},
			versionsWant:  []int64{1, 2, 3, 1},
			fallbackOrder: false,
		},
		{
			name:          "delete of an expired tombstone restarts too",
			steps:         []step{index, del, wait(2 * gc), del},
			versionsWant:  []int64{1, 2, 1},
			fallbackOrder: false,
		},
		{
			name:          "failover reuses seq_nos of lost writes",
			steps:         []step{index, other, lostThenFailover, index, del, lostThenFailover, index},
			versionsWant:  []int64{1, 2, 3, 4},
			fallbackOrder: true,
		},
		{
			name:          "failover then re-create after expiry",
			steps:         []step{index, del, lostThenFailover, wait(gc * 3), index, index},
			versionsWant:  []int64{1, 2, 1, 2},
			fallbackOrder: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSimShard(gc)
			for _, st := range tt.steps {
				st(s)
			}
			var xs []simWrite
			for _, w := range s.published {
				if w.id == "x" {
					xs = append(xs, w)
				}
			}
			var versions []int64
			for _, w := range xs {
				versions = append(versions, w.version)
			}
			if fmt.Sprint(versions) != fmt.Sprint(tt.versionsWant) {
				t.Fatalf("simulated _versions %v, want %v (the model is off)", versions, tt.versionsWant)
			}
			if prev, cur, ok := firstRegression(t, xs, seqNoForm); !ok {
				t.Errorf("seq_no form goes backwards: %+v then %+v", prev, cur)
			}
			if _, _, ok := firstRegression(t, xs, versionForm); ok != tt.fallbackOrder {
				t.Errorf("_version fallback keeps order = %v, want %v (versions %v)", ok, tt.fallbackOrder, versions)
			}
		})
	}
}
