package proxy

import (
	"fmt"
	"time"
)

// SpoolConfig configures the local durable spool (spool.go): where events of applied
// writes go when Kafka does not acknowledge them in time, so that the client still
// gets its 2xx (DESIGN.md principle 5).
type SpoolConfig struct {
	// Dir is the spool's directory, one per proxy (a lock file refuses a second);
	// "" turns the spool off: a write whose events Kafka does not acknowledge within
	// publish.timeout is answered 503.
	Dir string `koanf:"dir"`
	// MaxBytes and MaxAge bound the spool: once it holds that many bytes, or its
	// oldest entry is that old, new writes are refused with 429 before the primary is
	// called. Events of writes already applied are always spooled, so the spool can
	// pass MaxBytes by the events of the requests in flight.
	MaxBytes int64         `koanf:"max_bytes"`
	MaxAge   time.Duration `koanf:"max_age"`
	// KafkaWait is how long a write waits for Kafka's acknowledgement before its
	// unacknowledged events go to the spool.
	KafkaWait time.Duration `koanf:"kafka_wait"`
	// DrainTimeout bounds the drain of the spool to Kafka at shutdown; what is left
	// stays on disk and is drained at the next start.
	DrainTimeout time.Duration `koanf:"drain_timeout"`
}

func (s SpoolConfig) validate() error {
	if s.Dir == "" {
		return nil
	}
	switch {
	case s.MaxBytes <= 0:
		return fmt.Errorf("spool.max_bytes: must be positive, got %d", s.MaxBytes)
	case s.MaxAge <= 0:
		return fmt.Errorf("spool.max_age: must be positive, got %s", s.MaxAge)
	case s.KafkaWait < 100*time.Millisecond:
		return fmt.Errorf("spool.kafka_wait: must be at least 100ms, got %s", s.KafkaWait)
	case s.DrainTimeout < 0:
		return fmt.Errorf("spool.drain_timeout: must not be negative")
	}
	return nil
}
