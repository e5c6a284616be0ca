package replica

// A randomized, in-process test of replication and election: three real
// partition replicas (real files in temp dirs) are driven by the
// controller's own decisions (controller.BrokerDown/BrokerUp and the
// AlterPartition rule) and by the follower's own truncation rule
// (TruncationOffset), through a "network" that drops fetches, while
// brokers crash (their open partition is abandoned and reopened from disk)
// and come back. After every step it checks Kafka's replication
// invariants:
//
//   - a committed record (below a leader's high watermark when a producer
//     was acknowledged) is never lost or changed: every later leader holds
//     it at the same offset;
//   - at most one leader per leader epoch;
//   - a leader's high watermark never moves back while it leads;
//   - every in-sync replica's log agrees with the leader's below its own
//     high watermark.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"log/slog"

	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/log"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/partition"
	"github.com/samsa-io/samsa/internal/record"
)

type simBroker struct {
	id     int32
	dir    string
	p      *partition.Partition
	live   bool
	synced bool // follower: truncated against the current leader epoch
}

type sim struct {
	t       *testing.T
	rng     *rand.Rand
	st      *metadata.State
	brokers map[int32]*simBroker
	// committed is every acknowledged record: offset -> value.
	committed map[int64]string
	leaders   map[int32]int32 // leader epoch -> leader
	lastHW    map[int32]int64 // leader epoch -> the leader's highest HW seen
	next      int
	pending   []pendingAck
	lg        *slog.Logger
}

func newSim(t *testing.T, seed uint64) *sim {
	s := &sim{t: t, rng: rand.New(rand.NewPCG(seed, seed*7+1)), brokers: map[int32]*simBroker{},
		committed: map[int64]string{}, leaders: map[int32]int32{}, lastHW: map[int32]int64{},
		lg: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
	s.st = &metadata.State{Topics: map[string]*metadata.Topic{}, Brokers: map[int32]*metadata.BrokerRegistration{}}
	base := t.TempDir()
	for id := int32(1); id <= 3; id++ {
		s.st.Brokers[id] = &metadata.BrokerRegistration{ID: id, Epoch: 1}
		s.brokers[id] = &simBroker{id: id, dir: filepath.Join(base, strconv.Itoa(int(id)))}
	}
	s.st.Topics["t"] = &metadata.Topic{Name: "t", ID: metadata.NewTopicID(), Partitions: 1,
		Assignments: []metadata.PartitionState{{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}}}
	for _, b := range s.brokers {
		s.open(b)
	}
	s.applyRoles()
	return s
}

func (s *sim) state() metadata.PartitionState { return s.st.Topics["t"].Assignments[0] }

func (s *sim) open(b *simBroker) {
	p, err := partition.Open(partition.Config{Topic: "t", Dir: b.dir, SyncOnAck: true, Logger: s.lg,
		Log: log.Options{SegmentBytes: 4096}})
	if err != nil {
		s.t.Fatalf("open replica %d: %v", b.id, err)
	}
	if err := p.EnableReplication(b.id); err != nil {
		s.t.Fatal(err)
	}
	b.p, b.live, b.synced = p, true, false
}

// apply commits controller records to the state, as the FSM does.
func (s *sim) apply(recs []metadata.Record) {
	for _, r := range recs {
		next := s.st.Clone()
		if err := next.Apply(r); err != nil {
			s.t.Fatalf("controller record %+v refused: %v", r, err)
		}
		s.st = next
	}
}

// applyRoles gives every live replica the current state (the broker's
// reconcile).
func (s *sim) applyRoles() {
	a := s.state()
	if a.Leader >= 0 {
		if l, ok := s.leaders[a.LeaderEpoch]; ok && l != a.Leader {
			s.t.Fatalf("two leaders in epoch %d: %d and %d", a.LeaderEpoch, l, a.Leader)
		}
		s.leaders[a.LeaderEpoch] = a.Leader
	}
	for _, b := range s.brokers {
		if !b.live {
			continue
		}
		_, becameFollower, err := b.p.SetRole(partition.Role{Leader: a.Leader, LeaderEpoch: a.LeaderEpoch,
			PartitionEpoch: a.PartitionEpoch, Replicas: a.Replicas, ISR: a.ISR})
		if err != nil {
			s.t.Fatalf("SetRole on %d: %v", b.id, err)
		}
		if becameFollower {
			b.synced = false
		}
	}
}

func (s *sim) leader() *simBroker {
	a := s.state()
	if a.Leader < 0 {
		return nil
	}
	b := s.brokers[a.Leader]
	if !b.live {
		return nil
	}
	return b
}

// produce appends a batch on the leader, fsyncs it, and — as acks=all —
// records it committed once the HW passes it (now or at a later check).
func (s *sim) produce() {
	l := s.leader()
	if l == nil {
		return
	}
	n := 1 + s.rng.IntN(3)
	recs := make([]record.Record, n)
	vals := make([]string, n)
	for i := range recs {
		vals[i] = strconv.Itoa(s.next)
		s.next++
		recs[i] = record.Record{OffsetDelta: int32(i), Value: []byte(vals[i])}
	}
	batch := record.BuildBatch(record.BuildOptions{ProducerID: -1, BaseSequence: -1, ProducerEpoch: -1}, recs)
	res, err := l.p.AppendBatch(batch, time.Now())
	if err != nil {
		s.t.Fatalf("append on leader %d: %v", l.id, err)
	}
	if err := l.p.Flush(); err != nil {
		s.t.Fatalf("flush: %v", err)
	}
	s.pending = append(s.pending, pendingAck{epoch: s.state().LeaderEpoch, leader: l.id, base: res.BaseOffset, vals: vals})
}

type pendingAck struct {
	epoch  int32
	leader int32
	base   int64
	vals   []string
}

// fetch runs one fetch round of follower b from the leader.
func (s *sim) fetch(b *simBroker) {
	l := s.leader()
	if l == nil || l == b || !b.live || !s.state().HasReplica(b.id) {
		return
	}
	if !b.synced {
		e, end := l.p.EndOffsetForEpoch(b.p.LatestEpoch())
		to := TruncationOffset(b.p, e, end)
		if to < b.p.LogEndOffset() {
			if err := b.p.TruncateTo(to); err != nil {
				s.t.Fatalf("truncate %d: %v", b.id, err)
			}
		}
		b.synced = true
	}
	isr, err := l.p.UpdateFollower(b.id, b.p.LogEndOffset(), time.Now())
	if err != nil {
		b.synced = false // ahead of the leader: agree again next time
		return
	}
	if isr != nil {
		s.alterISR(l, isr)
	}
	rr, err := l.p.ReadReplica(b.p.LogEndOffset(), 1<<20)
	if err != nil {
		s.t.Fatalf("read replica from %d at %d: %v", l.id, b.p.LogEndOffset(), err)
	}
	if len(rr.Records) > 0 {
		if err := b.p.AppendReplica(rr.Records, s.state().LeaderEpoch); err != nil {
			s.t.Fatalf("append replica on %d: %v", b.id, err)
		}
		if err := b.p.FlushReplica(); err != nil {
			s.t.Fatal(err)
		}
	}
	b.p.SetFollowerHW(rr.HighWatermark, s.state().LeaderEpoch)
}

// alterISR is the controller's AlterPartition with its fencing rules.
func (s *sim) alterISR(l *simBroker, isr []int32) {
	role, _ := l.p.Role()
	a := s.state()
	if a.Leader != l.id || role.LeaderEpoch != a.LeaderEpoch || role.PartitionEpoch != a.PartitionEpoch {
		l.p.ISRChangeFailed()
		return
	}
	for _, r := range isr {
		if !a.InISR(r) && !s.brokers[r].live {
			l.p.ISRChangeFailed()
			return
		}
	}
	n := a.Clone()
	n.ISR = slices.Clone(isr)
	n.PartitionEpoch++
	s.apply([]metadata.Record{{Type: metadata.RecordPartitionChange, Topic: &metadata.Topic{Name: "t"}, Change: &n}})
	s.applyRoles()
}

func (s *sim) crash(b *simBroker) {
	if !b.live {
		return
	}
	b.p.Abandon() // no flush, no snapshot: what the disk has stays
	b.live = false
	reg := *s.st.Brokers[b.id]
	reg.Fenced = true
	next := s.st.Clone()
	next.Brokers[b.id] = &reg
	s.st = next
	s.apply(controller.BrokerDown(s.st, b.id, false))
	s.applyRoles()
}

func (s *sim) restart(b *simBroker) {
	if b.live {
		return
	}
	s.open(b)
	reg := *s.st.Brokers[b.id]
	reg.Fenced = false
	next := s.st.Clone()
	next.Brokers[b.id] = &reg
	s.st = next
	s.apply(controller.BrokerUp(s.st, b.id))
	s.applyRoles()
}

func (s *sim) shrink() {
	l := s.leader()
	if l == nil {
		return
	}
	if isr := l.p.ShrinkISR(time.Now().Add(time.Hour), time.Minute); isr != nil {
		s.alterISR(l, isr)
	}
}

// values reads p's records in [from, to).
func values(t *testing.T, p *partition.Partition, from, to int64) map[int64]string {
	out := map[int64]string{}
	for off := from; off < to; {
		rr, err := p.ReadReplica(off, 1<<20)
		if err != nil || len(rr.Records) == 0 {
			break
		}
		from := off
		_ = record.Split(rr.Records, func(h record.BatchHeader, b []byte) error {
			off = max(off, h.BaseOffset+int64(h.LastOffsetDelta)+1)
			return record.ForEachRecord(b, func(r record.Record) error {
				if o := h.BaseOffset + int64(r.OffsetDelta); o >= from && o < to {
					out[o] = string(r.Value)
				}
				return nil
			})
		})
	}
	return out
}

func (s *sim) check(step int) {
	l := s.leader()
	if l == nil {
		return
	}
	a := s.state()
	hw := l.p.HighWatermark()
	if prev, ok := s.lastHW[a.LeaderEpoch]; ok && hw < prev {
		s.t.Fatalf("step %d: leader %d's HW went back from %d to %d in epoch %d", step, l.id, prev, hw, a.LeaderEpoch)
	}
	s.lastHW[a.LeaderEpoch] = hw
	// Acknowledge what the HW passed (acks=all), if the leader that took
	// it still leads the same epoch (else the producer got an error).
	keep := s.pending[:0]
	for _, pa := range s.pending {
		end := pa.base + int64(len(pa.vals))
		switch {
		case pa.epoch == a.LeaderEpoch && pa.leader == l.id && hw >= end:
			for i, v := range pa.vals {
				s.committed[pa.base+int64(i)] = v
			}
		case pa.epoch == a.LeaderEpoch && pa.leader == l.id:
			keep = append(keep, pa)
		}
	}
	s.pending = keep
	// Committed records are on the leader, unchanged.
	got := values(s.t, l.p, 0, l.p.LogEndOffset())
	for off, v := range s.committed {
		if got[off] != v {
			s.t.Fatalf("step %d: committed record %q at offset %d is %q on leader %d (epoch %d)", step, v, off, got[off], l.id, a.LeaderEpoch)
		}
	}
	// In-sync replicas agree with the leader below their HW.
	for _, id := range a.ISR {
		b := s.brokers[id]
		if b == l || !b.live {
			continue
		}
		fhw := b.p.HighWatermark()
		fv := values(s.t, b.p, 0, fhw)
		for off := int64(0); off < fhw; off++ {
			if fv[off] != got[off] {
				s.t.Fatalf("step %d: in-sync replica %d has %q at %d, leader %d has %q", step, id, fv[off], off, l.id, got[off])
			}
		}
	}
}

func TestRandomizedReplication(t *testing.T) {
	seeds := 20
	if testing.Short() {
		seeds = 5
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			s := newSim(t, seed)
			defer func() {
				for _, b := range s.brokers {
					if b.live {
						b.p.Close()
					}
				}
			}()
			for step := range 400 {
				switch r := s.rng.IntN(100); {
				case r < 35:
					s.produce()
				case r < 80:
					// The network drops a fetch now and then.
					if s.rng.IntN(5) > 0 {
						s.fetch(s.brokers[int32(1+s.rng.IntN(3))])
					}
				case r < 87:
					live := 0
					for _, b := range s.brokers {
						if b.live {
							live++
						}
					}
					if live > 1 {
						s.crash(s.brokers[int32(1+s.rng.IntN(3))])
					}
				case r < 95:
					s.restart(s.brokers[int32(1+s.rng.IntN(3))])
				default:
					s.shrink()
				}
				s.check(step)
			}
			if len(s.committed) == 0 {
				t.Fatalf("seed %d committed nothing: the test exercised nothing", seed)
			}
		})
	}
}
