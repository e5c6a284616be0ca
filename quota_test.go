package samsa_test

import (
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A producer over its producer_byte_rate is held to it (within 10 % over
// 10 s) by throttling, while another client without a quota is not.
func TestProduceQuotaThrottles(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 15 s of producing; run without -short")
	}
	b := startBroker(t, t.TempDir(), nil)
	adm := kadm.NewClient(newClient(t, b))
	ctx := testCtx(t)
	const rate = 200_000 // bytes/s
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: []kadm.ClientQuotaEntityComponent{{Type: "client-id", Name: kadm.StringPtr("slow")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: rate}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("AlterClientQuotas: %v %+v", err, res)
	}
	described, err := adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchName: kadm.StringPtr("slow")}})
	if err != nil || len(described) != 1 || described[0].Values[0].Value != rate {
		t.Fatalf("DescribeClientQuotas: %v %+v", err, described)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "quota"); err != nil {
		t.Fatal(err)
	}
	// run produces for warm+d and returns the bytes acknowledged during d:
	// the quota's first window lets a burst through (the rate is measured
	// over at least quota.window.num-1 windows, as in Kafka), the rate
	// that follows is what the quota holds.
	run := func(clientID string, warm, d time.Duration) (int64, time.Duration) {
		// Quotas count the bytes on the wire: random values and no
		// compression make them the bytes the client produces.
		cl := newClient(t, b, kgo.ClientID(clientID), kgo.DefaultProduceTopic("quota"), kgo.ProducerLinger(0),
			kgo.MaxBufferedRecords(50), kgo.ProducerBatchMaxBytes(16<<10), kgo.ProducerBatchCompression(kgo.NoCompression()))
		value := make([]byte, 1000)
		_, _ = rand.Read(value)
		var acked atomic.Int64
		var measuring atomic.Bool
		var wg sync.WaitGroup
		pctx, cancel := context.WithTimeout(ctx, warm+d)
		defer cancel()
		start := time.Now()
		var begin time.Time
		for pctx.Err() == nil {
			if begin.IsZero() && time.Since(start) >= warm {
				begin = time.Now()
				measuring.Store(true)
			}
			wg.Add(1)
			cl.Produce(pctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err == nil && measuring.Load() {
					acked.Add(int64(len(r.Value)))
				}
			})
		}
		elapsed := time.Since(begin)
		wg.Wait()
		return acked.Load(), elapsed
	}
	var slowBytes, fastBytes int64
	var slowTook time.Duration
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); slowBytes, slowTook = run("slow", 5*time.Second, 10*time.Second) }()
	go func() { defer wg.Done(); fastBytes, _ = run("fast", 0, 3*time.Second) }()
	wg.Wait()
	got := float64(slowBytes) / slowTook.Seconds()
	t.Logf("throttled client: %.0f B/s for a quota of %d B/s; unthrottled client: %.0f B/s", got, rate, float64(fastBytes)/3)
	if got > rate*1.10 || got < rate*0.90 {
		t.Errorf("throttled client produced %.0f B/s, want %d ±10%%", got, rate)
	}
	if float64(fastBytes)/3 < 3*rate {
		t.Errorf("the client without a quota produced only %.0f B/s; it should not be throttled", float64(fastBytes)/3)
	}
}
