package kafkatest

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ProduceHold keeps produce requests unanswered; see HoldProduce.
type ProduceHold struct {
	release chan struct{}

	mu       sync.Mutex
	held     int
	released bool
}

// HoldProduce makes every produce request the cluster receives hang, unanswered,
// until Release: Kafka as a client sees a broker that stopped answering (a network
// partition, a stalled disk), where FailProduce is a broker that answers with errors.
// Nothing held is written until Release; then the held requests are handled normally,
// in order, and so is every later one. Clients time requests out on their own (kgo:
// the request timeout, then a retry on a new connection, which is held too) and fail
// records past their delivery timeout, exactly as against a hung broker.
//
// Other requests (metadata, fetch, transactions) are answered: for a broker that
// refuses connections altogether, close the cluster (Fake().Close()) and start a new
// one on the same port and data directory (kfake.Ports, kfake.DataDir).
//
// Like FailProduce, it is a kfake control for Produce, which runs before controls
// added after it.
func (c *Cluster) HoldProduce() *ProduceHold {
	h := &ProduceHold{release: make(chan struct{})}
	c.fake.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		h.mu.Lock()
		if h.released {
			h.mu.Unlock()
			c.fake.DropControl()
			return nil, nil, false
		}
		h.held++
		h.mu.Unlock()
		c.fake.KeepControl()
		c.fake.SleepControl(func() { <-h.release })
		return nil, nil, false // released: kfake handles it
	})
	return h
}

// Held returns how many produce requests have been held so far.
func (h *ProduceHold) Held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

// Release lets the held requests, and every later one, through. It may be called
// more than once.
func (h *ProduceHold) Release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.released {
		h.released = true
		close(h.release)
	}
}
