package replicator

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceClass is what a failed dead-letter write means for its record.
type produceClass int

const (
	// produceRetriable: the broker or the network is in trouble (timeouts, leader
	// moves, broker unavailable): the partition waits with backoff and writes again.
	produceRetriable produceClass = iota
	// produceTooLarge: this record can never be written as it is (MESSAGE_TOO_LARGE,
	// RECORD_LIST_TOO_LARGE): it is written once more as a reference record, without
	// its value.
	produceTooLarge
	// producePermanent: no record can be written to the topic until an operator acts
	// (authorization, a missing topic with auto-create off, a topic policy, a broker
	// that finds the record invalid, e.g. no key on a compacted topic): the
	// partition blocks with the error and probes again every retry.max.
	producePermanent
)

// classifyProduce sorts a dead-letter produce error.
func classifyProduce(err error) produceClass {
	switch {
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return produceTooLarge
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed),
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed), errors.Is(err, kerr.SaslAuthenticationFailed),
		errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID),
		errors.Is(err, kerr.InvalidTopicException), errors.Is(err, kerr.PolicyViolation),
		errors.Is(err, kerr.InvalidRequiredAcks), errors.Is(err, kerr.UnsupportedVersion),
		errors.Is(err, kerr.InvalidRecord), errors.Is(err, kerr.CorruptMessage):
		return producePermanent
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable {
		return producePermanent
	}
	var ne net.Error
	if kerr.IsRetriable(err) || errors.Is(err, kgo.ErrRecordTimeout) || errors.Is(err, kgo.ErrRecordRetries) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) {
		return produceRetriable
	}
	// Anything else (a dial error, a closed connection…) is the network's.
	return produceRetriable
}

// readDLQLimits sets the size limit of a dead-letter record, per dead-letter topic:
// the producer's batch limit (ProducerBatchMaxBytes, franz-go's 1,000,012 bytes by
// default) or the topic's max.message.bytes, whichever is smaller. A topic whose
// config cannot be read (missing yet, or no DescribeConfigs permission) gets the
// producer's limit; a broker that still refuses a record as too large is handled by
// the fallback to a reference record.
func (r *Replicator) readDLQLimits(ctx context.Context) {
	producerMax := int(r.producer.OptValue(kgo.ProducerBatchMaxBytes).(int32))
	r.dlqLimits = map[string]int{}
	topics := make([]string, 0, len(r.cfg.Consume.Topics))
	for _, t := range r.cfg.Consume.Topics {
		dlq := r.cfg.dlqTopic(t)
		r.dlqLimits[dlq] = producerMax
		topics = append(topics, dlq)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rcs, err := kadm.NewClient(r.producer).DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		r.log.Warn("cannot read the dead-letter topics' max.message.bytes; using the producer's batch limit", "limit", producerMax, "error", err)
		return
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			r.log.Warn("cannot read a dead-letter topic's max.message.bytes; using the producer's batch limit", "topic", rc.Name, "limit", producerMax, "error", rc.Err)
			continue
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			if n, err := strconv.Atoi(*c.Value); err == nil && n > 0 && n < r.dlqLimits[rc.Name] {
				r.dlqLimits[rc.Name] = n
			}
		}
	}
}

// dlqLimit is the size limit of a dead-letter record in topic.
func (r *Replicator) dlqLimit(topic string) int {
	if n, ok := r.dlqLimits[topic]; ok {
		return n
	}
	return int(r.producer.OptValue(kgo.ProducerBatchMaxBytes).(int32))
}
