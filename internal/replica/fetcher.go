// Package replica runs a broker's follower side of replication: one
// fetcher per leader broker, which truncates each partition it follows to
// where its log agrees with the leader's (by leader epoch, with
// OffsetForLeaderEpoch), then copies the leader's log with the Kafka Fetch
// protocol (replica id = this broker), fsyncing what it copied before the
// next fetch reports the new offset.
package replica

import (
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/partition"
)

// Config configures the fetchers of one broker.
type Config struct {
	Self int32
	// Addr returns the address of broker id (its registered inter-broker
	// listener), "" when unknown.
	Addr func(id int32) string
	// TopicID returns the id of a topic (fetch v13+ names topics by id).
	Logger *slog.Logger
	// MaxWait is the fetch long-poll (replica.fetch.wait.max.ms).
	MaxWait time.Duration
	// MaxBytes per partition per fetch (replica.fetch.max.bytes).
	MaxBytes int32
	// Dial connects and logs in to a leader's inter-broker listener
	// (peer.Login.DialKafka); nil dials plaintext.
	Dial func(addr, clientID string, timeout time.Duration) (net.Conn, error)
}

// Manager owns the fetchers.
type Manager struct {
	cfg Config

	mu       sync.Mutex
	fetchers map[int32]*fetcher // by leader id; guarded by mu
	closed   bool
}

// NewManager returns a manager with no fetchers.
func NewManager(cfg Config) *Manager {
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 500 * time.Millisecond
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 20
	}
	return &Manager{cfg: cfg, fetchers: map[int32]*fetcher{}}
}

// Follow makes p follow leader at epoch: it first truncates to where it
// agrees with the leader, then fetches. It replaces any earlier Follow of p.
func (m *Manager) Follow(p *partition.Partition, leader, epoch int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for id, f := range m.fetchers {
		if id != leader {
			f.remove(p)
		}
	}
	f, ok := m.fetchers[leader]
	if !ok {
		f = newFetcher(m, leader)
		m.fetchers[leader] = f
		go f.run()
	}
	f.add(p, epoch)
}

// Unfollow stops fetching p (it leads now, or is gone).
func (m *Manager) Unfollow(p *partition.Partition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.fetchers {
		f.remove(p)
	}
}

// Close stops every fetcher and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	fs := m.fetchers
	m.fetchers = map[int32]*fetcher{}
	m.mu.Unlock()
	for _, f := range fs {
		f.stop()
	}
}

// followed is one partition a fetcher copies.
type followed struct {
	p        *partition.Partition
	epoch    int32
	truncate bool      // must agree with the leader (OffsetForLeaderEpoch) before fetching
	backoff  time.Time // skip until then (leader not ready for this epoch)
}

type fetcher struct {
	m      *Manager
	leader int32
	lg     *slog.Logger

	mu    sync.Mutex
	parts map[*partition.Partition]*followed // guarded by mu
	wake  chan struct{}
	done  chan struct{}
	exit  chan struct{}
	once  sync.Once
	conn  *conn // used only by run
}

func newFetcher(m *Manager, leader int32) *fetcher {
	return &fetcher{m: m, leader: leader, lg: m.cfg.Logger.With("leader", leader),
		parts: map[*partition.Partition]*followed{}, wake: make(chan struct{}, 1), done: make(chan struct{}), exit: make(chan struct{})}
}

func (f *fetcher) add(p *partition.Partition, epoch int32) {
	f.mu.Lock()
	f.parts[p] = &followed{p: p, epoch: epoch, truncate: true}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fetcher) remove(p *partition.Partition) {
	f.mu.Lock()
	delete(f.parts, p)
	f.mu.Unlock()
}

func (f *fetcher) stop() {
	f.once.Do(func() { close(f.done) })
	<-f.exit
}

func (f *fetcher) snapshot() []followed {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]followed, 0, len(f.parts))
	now := time.Now()
	for _, fp := range f.parts {
		if now.Before(fp.backoff) {
			continue
		}
		out = append(out, *fp)
	}
	return out
}

// update changes a followed partition's flags if it is still followed at
// the same epoch.
func (f *fetcher) update(p *partition.Partition, epoch int32, fn func(*followed)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fp, ok := f.parts[p]; ok && fp.epoch == epoch {
		fn(fp)
	}
}

func (f *fetcher) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.done:
		return false
	case <-t.C:
		return true
	case <-f.wake:
		return true
	}
}

func (f *fetcher) run() {
	defer close(f.exit)
	defer func() {
		if f.conn != nil {
			f.conn.close()
		}
	}()
	failures := 0
	for {
		select {
		case <-f.done:
			return
		default:
		}
		parts := f.snapshot()
		if len(parts) == 0 {
			if !f.sleep(time.Second) {
				return
			}
			continue
		}
		err := f.round(parts)
		if err != nil {
			failures++
			if f.conn != nil {
				f.conn.close()
				f.conn = nil
			}
			if failures == 1 || failures%50 == 0 {
				f.lg.Warn("replica fetch from the leader failed; retrying", "err", err, "failures", failures)
			}
			if !f.sleep(min(time.Duration(failures)*50*time.Millisecond, time.Second)) {
				return
			}
			continue
		}
		failures = 0
	}
}

func (f *fetcher) connect() error {
	if f.conn != nil {
		return nil
	}
	addr := f.m.cfg.Addr(f.leader)
	if addr == "" {
		return fmt.Errorf("no address for broker %d", f.leader)
	}
	c, err := dial(f.m.cfg.Dial, addr, "samsa-replica-"+strconv.Itoa(int(f.m.cfg.Self)))
	if err != nil {
		return err
	}
	f.conn = c
	return nil
}

// round truncates the partitions that need it, then fetches once for all
// that are ready, appends, fsyncs and moves their HW.
func (f *fetcher) round(parts []followed) error {
	if err := f.connect(); err != nil {
		return err
	}
	var trunc, ready []followed
	for _, fp := range parts {
		if fp.truncate {
			trunc = append(trunc, fp)
		} else {
			ready = append(ready, fp)
		}
	}
	if len(trunc) > 0 {
		if err := f.truncate(trunc); err != nil {
			return err
		}
	}
	if len(ready) == 0 {
		return nil
	}
	return f.fetch(ready)
}

// byTopic yields each followed partition with the index of its topic in a
// request, calling add (which appends the topic and returns its index) the
// first time a topic comes up.
func byTopic(parts []followed, add func(topic string) int) iter.Seq2[int, followed] {
	return func(yield func(int, followed) bool) {
		idx := map[string]int{}
		for _, fp := range parts {
			i, ok := idx[fp.p.Topic]
			if !ok {
				i = add(fp.p.Topic)
				idx[fp.p.Topic] = i
			}
			if !yield(i, fp) {
				return
			}
		}
	}
}

// find returns the followed partition a response entry names, or nil.
func find(parts []followed, topic string, partition int32) *followed {
	for i := range parts {
		if parts[i].p.Topic == topic && parts[i].p.Index == partition {
			return &parts[i]
		}
	}
	return nil
}

// truncate asks the leader where each partition's latest local epoch ends
// and truncates the local log there (KIP-101/279): anything past it was
// never committed under that leader.
func (f *fetcher) truncate(parts []followed) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version = 3
	req.ReplicaID = f.m.cfg.Self
	for i, fp := range byTopic(parts, func(topic string) int {
		t := kmsg.NewOffsetForLeaderEpochRequestTopic()
		t.Topic = topic
		req.Topics = append(req.Topics, t)
		return len(req.Topics) - 1
	}) {
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition = fp.p.Index
		rp.CurrentLeaderEpoch = fp.epoch
		rp.LeaderEpoch = fp.p.LatestEpoch()
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	kresp, err := f.conn.roundTrip(req, 10*time.Second)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			fp := find(parts, t.Topic, rp.Partition)
			if fp == nil {
				continue
			}
			if rp.ErrorCode != 0 {
				// Not yet the leader of this epoch (its metadata lags
				// ours), or already replaced: try again shortly.
				f.update(fp.p, fp.epoch, func(x *followed) { x.backoff = time.Now().Add(100 * time.Millisecond) })
				continue
			}
			to := TruncationOffset(fp.p, rp.LeaderEpoch, rp.EndOffset)
			// When the leader answered an older epoch than our latest, our
			// log may diverge further back too: truncate, then ask again
			// for the epoch we are left with (Kafka iterates the same way).
			again := rp.LeaderEpoch >= 0 && rp.LeaderEpoch != fp.p.LatestEpoch()
			if to < fp.p.LogEndOffset() {
				f.lg.Info("truncating a diverged follower log to where the leader's agrees",
					"topic", fp.p.Topic, "partition", fp.p.Index, "from", fp.p.LogEndOffset(), "to", to, "leader_epoch", fp.epoch)
				if err := fp.p.TruncateAsFollower(to, fp.epoch); err != nil {
					f.lg.Error("truncating follower log", "topic", fp.p.Topic, "partition", fp.p.Index, "err", err)
					f.update(fp.p, fp.epoch, func(x *followed) { x.backoff = time.Now().Add(time.Second) })
					continue
				}
			}
			if again && to < fp.p.LogEndOffset() {
				continue // truncation failed above and was logged
			}
			f.update(fp.p, fp.epoch, func(x *followed) { x.truncate = again })
		}
	}
	return nil
}

// TruncationOffset is where follower p must truncate, given the leader's
// answer to OffsetForLeaderEpoch for p's latest epoch. Kafka's rule: when the leader knows our latest epoch
// it ends where the leader says (or our end, if earlier); when it answers
// an older epoch, our log agrees up to the earlier of where that epoch ends
// on the leader and on us; when it knows nothing (-1) we keep only the HW.
func TruncationOffset(p *partition.Partition, leaderEpoch int32, endOffset int64) int64 {
	leo := p.LogEndOffset()
	if endOffset < 0 || leaderEpoch < 0 {
		if p.LatestEpoch() < 0 {
			return leo // nothing local to disagree with
		}
		return min(p.HighWatermark(), leo)
	}
	ours := p.LatestEpoch()
	if leaderEpoch == ours {
		return min(endOffset, leo)
	}
	_, localEnd := p.EndOffsetForEpoch(leaderEpoch)
	if localEnd < 0 {
		return min(p.HighWatermark(), leo)
	}
	return min(endOffset, localEnd, leo)
}

func (f *fetcher) fetch(parts []followed) error {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12 // replica id in the body; names, not ids
	req.ReplicaID = f.m.cfg.Self
	req.MaxWaitMillis = int32(f.m.cfg.MaxWait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = 64 << 20
	req.SessionEpoch = -1 // sessionless: a full fetch every time
	for i, fp := range byTopic(parts, func(topic string) int {
		t := kmsg.NewFetchRequestTopic()
		t.Topic = topic
		req.Topics = append(req.Topics, t)
		return len(req.Topics) - 1
	}) {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = fp.p.Index
		rp.CurrentLeaderEpoch = fp.epoch
		rp.FetchOffset = fp.p.LogEndOffset()
		rp.LastFetchedEpoch = -1
		rp.LogStartOffset = fp.p.LogStartOffset()
		rp.PartitionMaxBytes = f.m.cfg.MaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	kresp, err := f.conn.roundTrip(req, f.m.cfg.MaxWait+10*time.Second)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return fmt.Errorf("fetch: %w", kerr.ErrorForCode(resp.ErrorCode))
	}
	type appended struct {
		fp           *followed
		hw, logStart int64
	}
	var done []appended
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			fp := find(parts, t.Topic, rp.Partition)
			if fp == nil {
				continue
			}
			switch rp.ErrorCode {
			case 0:
			case kerr.OffsetOutOfRange.Code:
				f.outOfRange(fp, rp.LogStartOffset)
				continue
			default:
				f.update(fp.p, fp.epoch, func(x *followed) { x.backoff = time.Now().Add(100 * time.Millisecond) })
				continue
			}
			if len(rp.RecordBatches) > 0 {
				if err := fp.p.AppendReplica(rp.RecordBatches, fp.epoch); err != nil {
					if errors.Is(err, partition.ErrClosed) || errors.Is(err, partition.ErrFencedEpoch) {
						continue // gone, or its role moved on: the data is stale
					}
					f.lg.Warn("appending fetched batches", "topic", fp.p.Topic, "partition", fp.p.Index, "err", err)
					// A mismatch of offsets means our log moved
					// (truncated meanwhile): agree with the leader again.
					f.update(fp.p, fp.epoch, func(x *followed) { x.truncate = true })
					continue
				}
			}
			done = append(done, appended{fp: fp, hw: rp.HighWatermark, logStart: rp.LogStartOffset})
		}
	}
	// Durable before the next fetch reports the new log end: the leader
	// counts that offset towards its high watermark. The partitions are
	// fsynced concurrently: one after another, a round of eight took
	// eight disk round trips before the next fetch could go out.
	errs := make([]error, len(done))
	if len(done) == 1 {
		errs[0] = done[0].fp.p.FlushReplica()
	} else {
		var wg sync.WaitGroup
		for i, a := range done {
			wg.Go(func() { errs[i] = a.fp.p.FlushReplica() })
		}
		wg.Wait()
	}
	for i, a := range done {
		if err := errs[i]; err != nil {
			f.lg.Error("fsync of a follower log failed; the replica stops", "topic", a.fp.p.Topic, "partition", a.fp.p.Index, "err", err)
			f.update(a.fp.p, a.fp.epoch, func(x *followed) { x.backoff = time.Now().Add(time.Hour) })
			continue
		}
		a.fp.p.SetFollowerHW(a.hw, a.fp.epoch)
		// The leader's log start moved (DeleteRecords, retention): ours
		// follows, up to our HW, so deleted records stay deleted after a
		// failover (Kafka's maybeIncrementLogStartOffset).
		if start := min(a.logStart, a.fp.p.HighWatermark()); start > a.fp.p.LogStartOffset() {
			if _, err := a.fp.p.DeleteRecords(start); err != nil {
				f.lg.Warn("moving a follower's log start to the leader's", "topic", a.fp.p.Topic, "partition", a.fp.p.Index, "err", err)
			}
		}
	}
	return nil
}

// outOfRange handles OFFSET_OUT_OF_RANGE for a follower: behind the
// leader's log start, it restarts empty there; otherwise its log is ahead
// of the leader's (a tail the leader never had) and it truncates again.
func (f *fetcher) outOfRange(fp *followed, leaderLogStart int64) {
	if leaderLogStart >= 0 && fp.p.LogEndOffset() < leaderLogStart {
		f.lg.Info("follower is behind the leader's log start; restarting its log there", "topic", fp.p.Topic, "partition", fp.p.Index, "log_start_offset", leaderLogStart)
		if err := fp.p.TruncateFullyAndStartAt(leaderLogStart, fp.epoch); err != nil {
			f.lg.Error("restarting follower log", "topic", fp.p.Topic, "partition", fp.p.Index, "err", err)
		}
		return
	}
	f.update(fp.p, fp.epoch, func(x *followed) { x.truncate = true })
}
