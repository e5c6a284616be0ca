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
	state   atomic.Pointer[metadata.State]
	applied atomic.Uint64 // index of the last entry applied

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every change; guarded by mu
}

func newFSM() *FSM {
	f := &FSM{changed: make(chan struct{})}
	f.state.Store(&metadata.State{Topics: map[string]*metadata.Topic{}, Brokers: map[int32]*metadata.BrokerRegistration{}})
	return f
}

// State returns the latest applied state. Callers must not modify it.
func (f *FSM) State() *metadata.State { return f.state.Load() }

// Applied returns the index of the last Raft entry applied (0 before the
// first entry after a start from a snapshot).
func (f *FSM) Applied() uint64 { return f.applied.Load() }

// Changed returns a channel closed at the next change of State.
func (f *FSM) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *FSM) publish(st *metadata.State) {
	f.state.Store(st)
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
	defer f.applied.Store(l.Index)
	if l.Type != raft.LogCommand {
		return nil
	}
	var recs []metadata.Record
	if err := json.Unmarshal(l.Data, &recs); err != nil {
		return fmt.Errorf("controller: undecodable metadata entry at index %d: %w", l.Index, err)
	}
	next := f.State().Clone()
	for _, r := range recs {
		if err := next.Apply(r); err != nil {
			return err
		}
	}
	f.publish(next)
	return nil
}

// Snapshot implements raft.FSM.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	b, err := json.Marshal(fsmSnapshot{State: f.State(), Applied: f.applied.Load()})
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
	f.applied.Store(snap.Applied)
	if st.Topics == nil {
		st.Topics = map[string]*metadata.Topic{}
	}
	if st.Brokers == nil {
		st.Brokers = map[int32]*metadata.BrokerRegistration{}
	}
	f.publish(&st)
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
