package event

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/fanout-dev/fanout/pkg/opspb"
)

// bigDoc is a JSON document of n bytes whose content depends on seed.
func bigDoc(n int, seed byte) []byte {
	if n < 16 {
		n = 16
	}
	b := make([]byte, 0, n)
	b = append(b, `{"s":"`...)
	for len(b) < n-2 {
		b = append(b, 'a'+(seed+byte(len(b)))%26)
	}
	return append(b, `"}`...)
}

func splitAll(t testing.TB, op *opspb.Operation, limit int, group string) []*kgo.Record {
	t.Helper()
	rs, err := Split("t", op, limit, func() []byte { return []byte(group) })
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	recs := make([]*kgo.Record, rs.Len())
	for k := range recs {
		if recs[k], err = rs.Record(k); err != nil {
			t.Fatalf("Record(%d): %v", k, err)
		}
		recs[k].Offset = int64(k)
		// The size the publisher picks a reused buffer by: never under, barely over.
		if n, got := rs.ValueBytes(k), len(recs[k].Value); n < got || n > got+16 {
			t.Fatalf("ValueBytes(%d) = %d, the value is %d bytes", k, n, got)
		}
	}
	return recs
}

func TestSplit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		size   int
		limit  int
		chunks bool
	}{
		{"fits", 100, 1 << 20, false},
		{"just over", 1 << 20, 1 << 20, true},
		{"1.5 MiB", 3 << 19, 1 << 20, true},
		{"small limit", 100_000, 4096, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			op := with(func(op *opspb.Operation) { op.Source = bigDoc(tc.size, 3) })
			recs := splitAll(t, op, tc.limit, "g1")
			if got := len(recs) > 1; got != tc.chunks {
				t.Fatalf("chunked = %v (%d records), want %v", got, len(recs), tc.chunks)
			}
			if !proto.Equal(op, with(func(op *opspb.Operation) { op.Source = bigDoc(tc.size, 3) })) {
				t.Fatalf("Split changed the operation")
			}
			var a Assembler
			for k, rec := range recs {
				if n := batchBytes(rec); n > tc.limit {
					t.Fatalf("record %d is %d bytes, over the limit %d", k, n, tc.limit)
				}
				got, err := Decode(rec)
				if err != nil {
					t.Fatalf("Decode(%d): %v", k, err)
				}
				schema, _ := header(rec.Headers, HeaderSchema)
				if !tc.chunks {
					if got.GetChunk() != nil || string(schema) != SchemaVersion {
						t.Fatalf("single record has chunk %v, schema %s", got.GetChunk(), schema)
					}
					if !proto.Equal(got, op) {
						t.Fatalf("decoded %v, want %v", got, op)
					}
					continue
				}
				if string(schema) != SchemaChunked {
					t.Fatalf("chunk %d has schema %q", k, schema)
				}
				out, g, _, err := a.Add(rec, got)
				want := Buffered
				if k == len(recs)-1 {
					want = Complete
				}
				if out != want || err != nil {
					t.Fatalf("Add(%d) = %v, %v; want %v", k, out, err, want)
				}
				if out == Complete {
					if doc := g.Document(); !proto.Equal(doc, op) {
						t.Fatalf("assembled document differs: %d bytes, want %d", len(doc.GetSource()), len(op.GetSource()))
					}
				}
			}
			if a.Len() != 0 || a.Buffered() != 0 {
				t.Fatalf("assembler holds %d groups, %d bytes", a.Len(), a.Buffered())
			}
		})
	}
}

func TestSplitRefuses(t *testing.T) {
	t.Parallel()
	del := with(func(op *opspb.Operation) {
		op.Kind, op.Source, op.Id = opspb.Kind_KIND_DELETE, nil, strings.Repeat("x", 500)
	})
	if _, err := Split("t", del, 600, func() []byte { return []byte("g") }); err == nil {
		t.Errorf("a DELETE over the limit was split")
	}
	big := with(func(op *opspb.Operation) { op.Source = bigDoc(10_000, 1) })
	if _, err := Split("t", big, 700, func() []byte { return []byte("g") }); err == nil {
		t.Errorf("a limit leaving no room for pieces was accepted")
	}
	if _, err := Split("t", big, 4096, nil); err == nil {
		t.Errorf("a chunk group without an id was accepted")
	}
}

func TestDecodeChunkSchema(t *testing.T) {
	t.Parallel()
	recs := splitAll(t, with(func(op *opspb.Operation) { op.Source = bigDoc(10_000, 1) }), 4096, "g")
	for _, tc := range []struct {
		name   string
		rec    func() *kgo.Record
		reason Reason
	}{
		{"chunk under schema 1", func() *kgo.Record {
			r := *recs[0]
			r.Headers = headersInto(nil, false)
			return &r
		}, ReasonInvalidChunk},
		{"single under schema 2", func() *kgo.Record {
			r, _ := Encode("t", indexOp())
			r.Headers = headersInto(nil, true)
			return r
		}, ReasonInvalidChunk},
		{"count 1", func() *kgo.Record { return reencode(t, recs[0], func(c *opspb.Chunk) { c.Count = 1; c.Index = 0 }) }, ReasonInvalidChunk},
		{"index past count", func() *kgo.Record { return reencode(t, recs[0], func(c *opspb.Chunk) { c.Index = c.Count }) }, ReasonInvalidChunk},
		{"no group", func() *kgo.Record { return reencode(t, recs[0], func(c *opspb.Chunk) { c.Group = nil }) }, ReasonInvalidChunk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.rec())
			var perr *PoisonError
			if !errors.As(err, &perr) || perr.Reason != tc.reason {
				t.Fatalf("Decode = %v, want reason %s", err, tc.reason)
			}
		})
	}
}

// reencode changes a chunk record's chunk, bypassing Encode's checks.
func reencode(t testing.TB, rec *kgo.Record, change func(*opspb.Chunk)) *kgo.Record {
	t.Helper()
	op := new(opspb.Operation)
	if err := proto.Unmarshal(rec.Value, op); err != nil {
		t.Fatal(err)
	}
	change(op.Chunk)
	v, err := proto.Marshal(op)
	if err != nil {
		t.Fatal(err)
	}
	r := *rec
	r.Value = v
	return &r
}

func TestAssemblerFaults(t *testing.T) {
	t.Parallel()
	op := with(func(op *opspb.Operation) { op.Source = bigDoc(10_000, 1) })
	recs := splitAll(t, op, 4096, "g")
	if len(recs) < 3 {
		t.Fatalf("want at least 3 pieces, got %d", len(recs))
	}
	decode := func(r *kgo.Record) *opspb.Operation {
		o, err := Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	badCRC := func() []*kgo.Record {
		out := make([]*kgo.Record, len(recs))
		for i := range recs {
			out[i] = reencode(t, recs[i], func(c *opspb.Chunk) { c.Crc32C++ })
		}
		return out
	}()
	otherVersion := reencode(t, recs[1], func(*opspb.Chunk) {})
	{
		o := decode(otherVersion)
		o.ReplicationVersion++
		otherVersion.Value, _ = proto.Marshal(o)
	}
	for _, tc := range []struct {
		name   string
		seq    []*kgo.Record
		want   []Outcome
		reason Reason
	}{
		{"gap", []*kgo.Record{recs[0], recs[2]}, []Outcome{Buffered, Invalid}, ReasonChunkGap},
		{"duplicate", append([]*kgo.Record{recs[0], recs[0], recs[1], recs[1]}, recs[2:]...), nil, ""},
		{"orphan", []*kgo.Record{recs[1]}, []Outcome{Orphan}, ""},
		{"bad checksum", badCRC, nil, ReasonChunkChecksum},
		{"version mismatch", []*kgo.Record{recs[0], otherVersion}, []Outcome{Buffered, Invalid}, ReasonChunkMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a Assembler
			var last Outcome
			var lastErr error
			for k, r := range tc.seq {
				out, _, _, err := a.Add(r, decode(r))
				if tc.want != nil && out != tc.want[k] {
					t.Fatalf("Add #%d = %v, want %v", k, out, tc.want[k])
				}
				last, lastErr = out, err
			}
			switch {
			case tc.reason != "":
				var perr *PoisonError
				if last != Invalid || !errors.As(lastErr, &perr) || perr.Reason != tc.reason {
					t.Fatalf("last Add = %v, %v; want Invalid %s", last, lastErr, tc.reason)
				}
			case tc.want == nil && last != Complete:
				t.Fatalf("last Add = %v, %v; want Complete", last, lastErr)
			}
			if tc.reason != "" && (a.Len() != 0 || a.Buffered() != 0) {
				t.Fatalf("invalid group still held: %d groups, %d bytes", a.Len(), a.Buffered())
			}
		})
	}
}

func TestAssemblerRefusesLarge(t *testing.T) {
	t.Parallel()
	recs := splitAll(t, with(func(op *opspb.Operation) { op.Source = bigDoc(10_000, 1) }), 4096, "g")
	a := Assembler{MaxDocumentBytes: 5000}
	for k, r := range recs {
		o, _ := Decode(r)
		out, g, done, err := a.Add(r, o)
		if out != Refused || err != nil || done != (k == len(recs)-1) {
			t.Fatalf("Add(%d) = %v, %v, %v; want Refused", k, out, done, err)
		}
		if g.Bytes() != 0 || a.Buffered() != 0 {
			t.Fatalf("a refused group buffered %d bytes", a.Buffered())
		}
	}
	if a.Len() != 0 {
		t.Fatalf("refused group still open")
	}
}

// FuzzAssembler delivers the pieces of a few interleaved groups in an order the fuzzer
// chooses: in order, duplicated, skipped or swapped. An assembled document is always
// exactly one of the originals; a group delivered whole and in order is assembled once;
// the assembler's byte count matches its groups.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, uint8(2))
	f.Add([]byte{0, 0, 1, 1, 2, 2, 3, 3}, uint8(3))
	f.Add([]byte{0x10, 0x21, 0x32, 0x43, 0x84, 0xc5}, uint8(1))
	f.Add([]byte{0xff, 0x80, 0x40, 0x01}, uint8(3))
	f.Fuzz(func(t *testing.T, script []byte, ngroups uint8) {
		n := int(ngroups%3) + 1
		type src struct {
			op   *opspb.Operation
			recs []*kgo.Record
			next int
			done int
			bad  bool // delivered out of order: may never complete
		}
		groups := make([]*src, n)
		for i := range groups {
			op := with(func(op *opspb.Operation) {
				op.Source = bigDoc(2000+i*1500, byte(i))
				op.ReplicationVersion = int64(10 + i)
				if i == 2 {
					op.Id = "other"
				}
			})
			groups[i] = &src{op: op, recs: splitAll(t, op, 1024, fmt.Sprintf("group-%d", i))}
		}
		var a Assembler
		off := int64(0)
		deliver := func(g *src, r *kgo.Record) {
			rc := *r
			rc.Offset = off
			off++
			o, err := Decode(&rc)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			out, grp, _, err := a.Add(&rc, o)
			switch out {
			case Complete:
				doc := grp.Document()
				if !proto.Equal(doc, g.op) {
					t.Fatalf("assembled a document that is not the original")
				}
				g.done++
			case Invalid:
				if err == nil {
					t.Fatalf("Invalid without an error")
				}
				g.bad = true
			}
			var held int64
			for _, og := range a.Open() {
				held += og.Bytes()
			}
			if held != a.Buffered() {
				t.Fatalf("assembler counts %d bytes, its groups hold %d", a.Buffered(), held)
			}
		}
		for _, b := range script {
			g := groups[int(b&0x0f)%n]
			if g.next >= len(g.recs) {
				continue
			}
			switch b >> 6 {
			case 0, 1: // the next piece
				deliver(g, g.recs[g.next])
				g.next++
			case 2: // a duplicate of the last piece, or the next one if none
				if g.next > 0 {
					deliver(g, g.recs[g.next-1])
				} else {
					deliver(g, g.recs[0])
					g.next++
				}
			case 3: // skip a piece
				g.next++
				g.bad = true
			}
		}
		for _, g := range groups {
			if g.done > 1 {
				t.Fatalf("a group was assembled %d times", g.done)
			}
			if !g.bad && g.next >= len(g.recs) && g.done != 1 {
				t.Fatalf("a group delivered whole and in order was not assembled")
			}
			if g.next < len(g.recs) && g.done != 0 {
				t.Fatalf("a group was assembled before its last piece")
			}
		}
	})
}

// batchBytes bounds what rec costs in a produce batch of its own, from the record's own
// key and headers: the record batch header, the record's varints at their widest, key,
// value and headers. Split's recordOverhead must count the same.
func batchBytes(rec *kgo.Record) int {
	n := 61 + 5 + 1 + 10 + 5 + 5 + len(rec.Key) + 5 + len(rec.Value) + 5
	for _, h := range rec.Headers {
		n += 5 + len(h.Key) + 5 + len(h.Value)
	}
	return n
}

// TestRecordOverhead: what Split counts beside a value is what a record it builds
// costs beside its value.
func TestRecordOverhead(t *testing.T) {
	t.Parallel()
	for _, rec := range splitAll(t, with(func(op *opspb.Operation) { op.Source = bigDoc(10_000, 1) }), 4096, "g")[:1] {
		if got, want := recordOverhead(len(rec.Key), true), batchBytes(rec)-len(rec.Value); got != want {
			t.Fatalf("chunk piece: recordOverhead %d, the record's %d", got, want)
		}
	}
	rec, err := Encode("t", indexOp())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := recordOverhead(len(rec.Key), false), batchBytes(rec)-len(rec.Value); got != want {
		t.Fatalf("single record: recordOverhead %d, the record's %d", got, want)
	}
}
