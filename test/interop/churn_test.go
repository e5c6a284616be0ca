package interop

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// offsetWatch polls a group's committed offsets every 100ms and remembers
// any partition whose commit moved backwards. A commit that moves back
// means the coordinator accepted a commit from a member that no longer
// owned the partition (a stale generation), which would make the group
// reprocess records it had finished.
type offsetWatch struct {
	mu         sync.Mutex
	last       map[int32]int64
	backwards  []string
	polls      int
	pollErrors int
	lastErr    error
}

// run polls until ctx ends.
func (w *offsetWatch) run(ctx context.Context, adm *kadm.Client, group, topic string) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		got, err := committed(pctx, adm, group, topic)
		cancel()
		w.mu.Lock()
		if err != nil {
			if ctx.Err() == nil {
				w.pollErrors++
				w.lastErr = err
			}
			w.mu.Unlock()
			continue
		}
		w.polls++
		for part, o := range got {
			if prev, ok := w.last[part]; ok && o < prev {
				w.backwards = append(w.backwards, fmt.Sprintf("partition %d: %d -> %d at %s", part, prev, o, time.Now().Format("15:04:05.000")))
			}
			w.last[part] = o
		}
		w.mu.Unlock()
	}
}

// TestGroupChurn streams numbered records into a 6-partition topic for
// about 9s while group members come and go on a schedule: franz-go
// members and kafka-python processes join, leave cleanly, are killed with
// kill -9 (processes) or dropped without a LeaveGroup (franz-go: their
// connections are cut). A last member then drains the topic. Every
// produced record is processed at least once, the commits reach the end,
// and, polled every 100ms throughout, no committed offset ever moves
// backwards.
//
// Members commit after processing, so at-least-once is what the group
// promises: records a killed member processed but had not committed are
// processed again by the next owner, and the test allows that.
func TestGroupChurn(t *testing.T) {
	t.Parallel()
	needPython(t, "kafka")
	// Short sessions so a killed member's partitions move on quickly; the
	// broker's floor (6s by default) is lowered to allow them.
	p := startBroker(t, t.TempDir(), "--set", "group.initial.rebalance.delay.ms=0",
		"--set", "group.min.session.timeout.ms=1000")
	const topic, group, parts = "churn", "churn", 6
	const total, rate = 4500, 500 // ~9s of records
	const sessionMs = 3000
	createTopic(t, p, topic, parts)
	cl := producer(t, p)
	adm := kadm.NewClient(p.client(t))

	// kafka-python 2.0.2 offers range and roundrobin; the franz-go members
	// use range too, so the group has a protocol in common.
	kgoOpts := []kgo.Opt{
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.SessionTimeout(sessionMs * time.Millisecond),
		kgo.HeartbeatInterval(300 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second),
	}
	var kgoMembers []*kgoMember
	var pyMembers []*pyMember
	addKgo := func(name string) *kgoMember {
		m := startKgoMember(t, p, name, topic, group, kgoOpts...)
		kgoMembers = append(kgoMembers, m)
		return m
	}
	addPy := func(name string) *pyMember {
		m := startPyMember(t, p, name, topic, group, sessionMs)
		pyMembers = append(pyMembers, m)
		return m
	}

	k1, k2, p1 := addKgo("k1"), addKgo("k2"), addPy("p1")
	waitGroup(t, adm, group, "Stable", 3, 45*time.Second)

	watchCtx, stopWatch := context.WithCancel(context.Background())
	watch := &offsetWatch{last: map[int32]int64{}}
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		watch.run(watchCtx, adm, group, topic)
	}()
	defer func() { stopWatch(); <-watchDone }()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	producedc := make(chan int, 1)
	go func() { producedc <- paceProducer(ctx, t, cl, topic, total, rate) }()

	// The schedule: each step at a fixed time after the producer started.
	at := func(d time.Duration, what string) {
		t.Helper()
		select {
		case <-time.After(time.Until(start.Add(d))):
		case <-ctx.Done():
			t.Fatalf("churn schedule: %v before %s", ctx.Err(), what)
		}
		t.Logf("%5.1fs %s", time.Since(start).Seconds(), what)
	}
	var k3, k4 *kgoMember
	var p2 *pyMember
	at(1500*time.Millisecond, "k3 joins")
	k3 = addKgo("k3")
	at(2500*time.Millisecond, "p2 joins")
	p2 = addPy("p2")
	at(3500*time.Millisecond, "k1 leaves")
	k1.leave()
	at(4500*time.Millisecond, "p1 is killed (kill -9)")
	p1.kill9(t)
	at(5500*time.Millisecond, "k2 is dropped (connections cut, no LeaveGroup)")
	k2.crash()
	at(6500*time.Millisecond, "k4 joins")
	k4 = addKgo("k4")
	at(7500*time.Millisecond, "p2 leaves")
	p2.stop(t)
	// The last second of records finds no live member: k5 drains them
	// once k4's session expires.
	at(8000*time.Millisecond, "k3 leaves, k4 is dropped")
	k3.leave()
	k4.crash()

	produced := <-producedc
	if produced != total {
		t.Fatalf("%d of %d records acked", produced, total)
	}
	t.Logf("%5.1fs producer done; k5 joins and drains", time.Since(start).Seconds())
	k5 := addKgo("k5")

	processed := func() map[int]int {
		var lists [][]int
		for _, m := range kgoMembers {
			lists = append(lists, m.records())
		}
		for _, m := range pyMembers {
			lists = append(lists, m.records())
		}
		return countProcessed(lists...)
	}
	waitFor(t, 60*time.Second, func() error {
		c := processed()
		for i := range total {
			if c[i] == 0 {
				return fmt.Errorf("%d of %d records processed; record %d not yet", len(c), total, i)
			}
		}
		return nil
	})
	ends := endOffsets(t, adm, topic)
	waitCommittedAt(t, adm, group, topic, ends)
	t.Logf("%5.1fs drained", time.Since(start).Seconds())
	k5.leave()
	stopWatch()
	<-watchDone

	c := processed()
	dups := 0
	for i, n := range c {
		if i < 0 || i >= total {
			t.Errorf("processed record %d, never produced", i)
		}
		dups += n - 1
	}
	for _, m := range kgoMembers {
		t.Logf("%s processed %d", m.name, len(m.records()))
	}
	for _, m := range pyMembers {
		t.Logf("%s processed %d (commit refusals %d)", m.name, len(m.records()), len(m.events("commit_failed")))
	}
	if len(k5.records()) == 0 {
		t.Errorf("the draining member k5 processed nothing: the last records were consumed before it joined")
	}
	watch.mu.Lock()
	defer watch.mu.Unlock()
	t.Logf("%d records, %d reprocessed after the churn; %d offset polls (%d failed, last error %v)",
		total, dups, watch.polls, watch.pollErrors, watch.lastErr)
	if len(watch.backwards) > 0 {
		t.Errorf("committed offsets moved backwards %d times: %v", len(watch.backwards), watch.backwards)
	}
	// Polls every 100ms over ~10s: most must have answered, or the check
	// above saw too little to mean anything.
	if watch.polls < 50 {
		t.Errorf("only %d offset polls answered (%d failed, last %v)", watch.polls, watch.pollErrors, watch.lastErr)
	}
}
