package controller

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/samsa-io/samsa/internal/metadata"
)

// FSM is the metadata state machine fed by the Raft log: every committed
// entry is a JSON array of metadata.Records, applied all or nothing by
// metadata.State.Apply to a copy of the state, which then replaces the
// current one (readers keep the pointer they got; nothing is mutated in
// place).
type FSM struct {
	// cur is the applied state and the index of the entry that made it
	// (or the last entry applied, refused ones included): one pointer, so
	// a reader never sees an index ahead of, or behind, its state.
	cur atomic.Pointer[applied]

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every change; guarded by mu
}

// applied is a state with the Raft index it holds everything up to.
type applied struct {
	state *metadata.State
	index uint64
}

func newFSM() *FSM {
	f := &FSM{changed: make(chan struct{})}
	f.cur.Store(&applied{state: &metadata.State{Topics: map[string]*metadata.Topic{}, Brokers: map[int32]*metadata.BrokerRegistration{}}})
	return f
}

// State returns the latest applied state. Callers must not modify it.
func (f *FSM) State() *metadata.State { return f.cur.Load().state }

// Snapshot returns the latest applied state with its index.
func (f *FSM) Current() (*metadata.State, uint64) {
	c := f.cur.Load()
	return c.state, c.index
}

// Applied returns the index of the last Raft entry applied.
func (f *FSM) Applied() uint64 { return f.cur.Load().index }

// Changed returns a channel closed at the next change of State.
func (f *FSM) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *FSM) publish(st *metadata.State, index uint64) {
	f.cur.Store(&applied{state: st, index: index})
	f.mu.Lock()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func encodeRecords(recs []metadata.Record) ([]byte, error) { return json.Marshal(recs) }

// Apply implements raft.FSM. It returns nil or the error that refused the
// entry (a refused entry changes nothing, on every node alike: Apply is
// deterministic).
func (f *FSM) Apply(l *raft.Log) any {
	cur := f.State()
	if l.Type != raft.LogCommand {
		return nil
	}
	var recs []metadata.Record
	if err := json.Unmarshal(l.Data, &recs); err != nil {
		// Refused: the state stays, the index moves (readers waiting for
		// this index must not wait forever).
		f.publish(cur, l.Index)
		return fmt.Errorf("controller: undecodable metadata entry at index %d: %w", l.Index, err)
	}
	next := cur.Clone()
	for _, r := range recs {
		if err := next.Apply(r); err != nil {
			f.publish(cur, l.Index)
			return err
		}
	}
	f.publish(next, l.Index)
	return nil
}

// Snapshot implements raft.FSM.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	st, idx := f.Current()
	b, err := json.Marshal(fsmSnapshot{State: st, Applied: idx})
	if err != nil {
		return nil, err
	}
	return snapshot(b), nil
}

// Restore implements raft.FSM.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var snap fsmSnapshot
	if err := json.NewDecoder(rc).Decode(&snap); err != nil || snap.State == nil {
		return fmt.Errorf("controller: metadata snapshot: %v", err)
	}
	st := *snap.State
	if st.Topics == nil {
		st.Topics = map[string]*metadata.Topic{}
	}
	if st.Brokers == nil {
		st.Brokers = map[int32]*metadata.BrokerRegistration{}
	}
	f.publish(&st, snap.Applied)
	return nil
}

// fsmSnapshot is a snapshot's content: the state and the index of the
// last command it holds.
type fsmSnapshot struct {
	State   *metadata.State `json:"state"`
	Applied uint64          `json:"applied"`
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s snapshot) Release() {}
