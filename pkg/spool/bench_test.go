package spool

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppend measures fsync'ed appends of 1 KiB entries (an event's size) by 1,
// 16 and 128 concurrent appenders: group commit shares one fsync among all waiting.
func BenchmarkAppend(b *testing.B) {
	payload := make([]byte, 1024)
	for _, par := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("appenders=%d", par), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			// At least 2,000 appends, so that -benchtime 1x still measures something.
			n := max(b.N, 2000)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < par; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					e := []Entry{{Type: TypeKafkaRecord, Payload: payload}}
					for next.Add(1) <= int64(n) {
						if err := s.Append(context.Background(), e); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
		})
	}
}
