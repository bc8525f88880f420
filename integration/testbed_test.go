package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanout-dev/fanout/integration/backend"
	"github.com/fanout-dev/fanout/pkg/bulk"
	"github.com/fanout-dev/fanout/pkg/converge"
	"github.com/fanout-dev/fanout/pkg/event"
	"github.com/fanout-dev/fanout/pkg/opspb"
)

const opsTopic = "fanout.ops"

// TestTestBedRoundTrip runs the test bed end to end on every backend: writes go to the
// primary, events are built from its answers with pkg/bulk and pkg/event, go through
// Kafka, are applied to a replica with external versions, and pkg/converge finds the
// replica equal to the primary; then it finds a divergence made on purpose. On the
// Docker backend this checks the emulator's behaviour against real OpenSearch.
func TestTestBedRoundTrip(t *testing.T) {
	backend.Run(t, backend.Config{Replicas: 1, Topics: []string{opsTopic}, Partitions: 3}, func(t *testing.T, b *backend.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		primary, replica := backend.Client(t, b.Primary), backend.Client(t, b.Replicas[0])
		createIndex(t, ctx, b.Primary, "bed")
		createIndex(t, ctx, b.Replicas[0], "bed")

		// Writes on the primary: creates, updates (full document back), deletes; every
		// fourth document routed, its update and delete with the same routing.
		var body strings.Builder
		for i := 0; i < 300; i++ {
			fmt.Fprintf(&body, "{\"index\":{\"_index\":\"bed\",\"_id\":\"%d\"%s}}\n{\"n\":%d,\"name\":\"doc %d\"}\n", i, routed(i), i, i)
		}
		for i := 3; i < 300; i += 3 { // not 0: n = -0 would be a noop
			fmt.Fprintf(&body, "{\"update\":{\"_index\":\"bed\",\"_id\":\"%d\"%s,\"_source\":true}}\n{\"doc\":{\"n\":%d}}\n", i, routed(i), -i)
		}
		for i := 1; i < 300; i += 10 {
			fmt.Fprintf(&body, "{\"delete\":{\"_index\":\"bed\",\"_id\":\"%d\"%s}}\n", i, routed(i))
		}
		answer := post(t, ctx, b.Primary+"/_bulk?refresh=true", body.String())

		// Events from the answers, as the proxy builds them.
		var recs []*kgo.Record
		var payloads [][]byte
		var routings []string
		sc := bulk.NewBytesScanner([]byte(body.String()))
		for sc.Next() {
			payloads = append(payloads, append([]byte(nil), sc.Item().Payload...))
			routings = append(routings, sc.Item().Routing)
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := bulk.ParseResponse(answer, func(i int, r *bulk.ItemResult) error {
			if r.Status/100 != 2 || (r.Result != "created" && r.Result != "updated" && r.Result != "deleted") {
				return fmt.Errorf("item %d: %d %s %s", i, r.Status, r.ErrorType, r.ErrorReason)
			}
			v, err := event.ReplicationVersion(r.SeqNo, r.PrimaryTerm, r.Version, r.HasSeqNo)
			if err != nil {
				return err
			}
			seq, term := r.SeqNo, r.PrimaryTerm
			op := &opspb.Operation{Kind: opspb.Kind_KIND_INDEX, Index: r.Index, Id: r.ID, Routing: routings[i], ReplicationVersion: v,
				Version: r.Version, SeqNo: &seq, PrimaryTerm: &term, SourceCluster: "primary"}
			switch {
			case r.Result == "deleted":
				op.Kind = opspb.Kind_KIND_DELETE
			case r.Action == bulk.ActionUpdate:
				op.Source = append([]byte(nil), r.GetSource...)
			default:
				op.Source = payloads[i]
			}
			rec, err := event.Encode(opsTopic, op)
			if err != nil {
				return err
			}
			recs = append(recs, rec)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		cl := b.KafkaClient(t)
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("producing %d events: %v", len(recs), err)
		}

		// Consume them back and apply to the replica, newest-wins by external version.
		consumer := b.KafkaClient(t, kgo.ConsumeTopics(opsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		var apply []byte
		for got := 0; got < len(recs); {
			fs := consumer.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("consumed %d of %d events: %v", got, len(recs), err)
			}
			fs.EachRecord(func(rec *kgo.Record) {
				got++
				op, err := event.Decode(rec)
				if err != nil {
					t.Fatalf("decoding: %v", err)
				}
				m := bulk.Meta{Action: bulk.ActionIndex, Index: op.GetIndex(), ID: op.GetId(), HasID: true, Routing: op.GetRouting(),
					Version: op.GetReplicationVersion(), HasVersion: true, VersionType: "external"}
				if op.GetKind() == opspb.Kind_KIND_DELETE {
					m.Action = bulk.ActionDelete
				}
				apply = bulk.AppendItem(apply, &m, op.GetSource())
			})
		}
		ans := post(t, ctx, b.Replicas[0]+"/_bulk?refresh=true", string(apply))
		if _, err := bulk.ParseResponse(ans, func(i int, r *bulk.ItemResult) error {
			if r.Status/100 != 2 && r.Status != http.StatusConflict && !(r.Action == bulk.ActionDelete && r.Status == 404) {
				return fmt.Errorf("applying item %d: %d %s", i, r.Status, r.ErrorReason)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}

		replicationVersion := func(v converge.DocVersion) int64 {
			rv, _ := event.ReplicationVersion(v.SeqNo, v.PrimaryTerm, v.Version, v.HasSeqNo)
			return rv
		}
		rep, err := converge.Compare(ctx, primary, replica, converge.Options{Mode: converge.Full, Refresh: true, ExpectVersion: replicationVersion})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Converged() || rep.Compared != 270 {
			t.Fatalf("replica after replay: %v", rep)
		}

		// A divergence on purpose, on a routed document: the checker must see it.
		post(t, ctx, b.Replicas[0]+"/bed/_doc/8?routing=u1&version=99999999999999&version_type=external&refresh=true", `{"n":-8,"name":"tampered"}`)
		rep, err = converge.Compare(ctx, primary, replica, converge.Options{Mode: converge.Full, Refresh: true, ExpectVersion: replicationVersion})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Different != 1 || rep.Missing+rep.Extra != 0 {
			t.Fatalf("want exactly one differing document, got %v", rep)
		}
	})
}

// shards is the number of primary shards of the indices the suites create: several, so
// that a routed document looked up, updated or deleted without its routing would be
// missed or doubled.
const shards = 3

// routed returns the routing field of document i's action lines: every fourth document
// is routed, always the same way (a document's writes must all carry its routing).
func routed(i int) string {
	if i%4 != 0 {
		return ""
	}
	return fmt.Sprintf(`,"routing":"u%d"`, i%7)
}

// createIndex creates index on the cluster at url with shards primary shards.
func createIndex(t *testing.T, ctx context.Context, url, index string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url+"/"+index, strings.NewReader(fmt.Sprintf(`{"settings":{"number_of_shards":%d}}`, shards)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
		t.Fatalf("creating %s on %s: %d %s", index, url, resp.StatusCode, b)
	}
}

func post(t *testing.T, ctx context.Context, url, body string) []byte {
	t.Helper()
	method := http.MethodPost
	if strings.Contains(url, "/_doc/") {
		method = http.MethodPut
	}
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 || bytes.Contains(b[:min(len(b), 64)], []byte(`"errors":true`)) {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return b
}
