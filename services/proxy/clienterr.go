package proxy

import (
	"context"
	"errors"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// What a client is told of an error: the kind of failure, never an internal address.
// The whole error goes to the proxy's log.

// readError describes a failure to read the client's request body. A network error's
// text names both ends of the connection, the proxy's own address among them, so only
// its cause is given ("i/o timeout", "connection reset by peer").
func readError(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// errNoAck is the publisher's own error when Kafka gave no verdict in time.
var errNoAck = errors.New("no acknowledgement")

// kafkaReason describes why events were not queued. The Kafka client's errors may name
// brokers ("unable to dial: dial tcp 10.0.0.5:9092: …"); Kafka's own error codes do
// not, and are worth telling.
func kafkaReason(err error) string {
	var ke *kerr.Error
	switch {
	case err == nil, errors.Is(err, errNoAck), errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, context.DeadlineExceeded):
		return "no acknowledgement in time"
	case errors.As(err, &ke):
		return "Kafka answered " + ke.Message
	case errors.Is(err, kgo.ErrRecordRetries):
		return "Kafka refused them too many times"
	}
	return "the Kafka client failed"
}
