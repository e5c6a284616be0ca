package partition

import (
	"fmt"
	"testing"
	"time"
)

// The produce path must not allocate per record: an append of a batch of
// 1 000 records allocates no more than an append of one. Allocation that
// creeps back in per record (decoding records, copying their bytes,
// per-batch headers) fails this long before a benchmark would show it.
func TestAppendAllocationsDoNotGrowWithRecords(t *testing.T) {
	allocs := map[int]float64{}
	for _, n := range []int{1, 1000} {
		for _, idempotent := range []bool{false, true} {
			p := openTest(t, t.TempDir())
			// AllocsPerRun calls the function runs+1 times; the batches
			// are built before, each idempotent one with its sequence.
			const runs = 50
			bs := make([][]byte, runs+1)
			for i := range bs {
				if idempotent {
					bs[i] = batch(7, 0, int32(i*n), n)
				} else {
					bs[i] = batch(-1, -1, -1, n)
				}
			}
			now, i := time.Now(), 0
			allocs[n] = max(allocs[n], testing.AllocsPerRun(runs, func() {
				b := bs[i]
				i++
				if _, err := p.AppendBatch(b, now); err != nil {
					panic(fmt.Sprintf("append: %v", err))
				}
			}))
			p.Close()
		}
	}
	t.Logf("allocations per append: 1 record %.1f, 1000 records %.1f", allocs[1], allocs[1000])
	if allocs[1000] > allocs[1] {
		t.Errorf("an append of 1000 records allocates %.1f times, one of 1 record %.1f: the produce path allocates per record", allocs[1000], allocs[1])
	}
	if allocs[1] > 4 {
		t.Errorf("an append allocates %.1f times; it should need next to nothing", allocs[1])
	}
}
