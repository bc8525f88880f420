package searchemu

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that servers, down/up cycles and timers leave no goroutines behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
