package controller

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"
)

// FuzzFSMApply: a metadata log entry of any bytes never panics the state
// machine, and a refused entry leaves the state unchanged.
func FuzzFSMApply(f *testing.F) {
	f.Add([]byte(`[{"type":"cluster_id","cluster_id":"x"}]`))
	f.Add([]byte(`[{"type":"register_broker","broker":{"id":1,"epoch":1}}]`))
	f.Add([]byte(`[{"type":"create_topic","topic":{"name":"t","id":"AAAAAAAAAAAAAAAAAAAAAQ","partitions":1,"assignments":[{"replicas":[1],"isr":[1],"leader":1}]}}]`))
	f.Add([]byte(`[{"type":"partition_change","topic":{"name":"t"},"partition":0,"change":{"replicas":[1],"isr":[],"leader":1}}]`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fsm := newFSM()
		before := fsm.State()
		if err, _ := fsm.Apply(&raft.Log{Type: raft.LogCommand, Data: b, Index: 1}).(error); err != nil && fsm.State() != before {
			t.Fatalf("a refused entry changed the state: %v", err)
		}
	})
}

// FuzzReadRPCFrame: a controller call frame of any bytes never panics and
// never allocates what an oversized length prefix claims.
func FuzzReadRPCFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 10, '{'})
	f.Fuzz(func(t *testing.T, b []byte) {
		var req rpcRequest
		_ = readFrame(bytes.NewReader(b), &req)
	})
}
