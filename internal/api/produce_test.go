package api

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/broker"
)

// TestProduceErrorLandsOnItsTopic: a v13 produce (topics by id) to partition
// 0 of two topics, where only the second topic's fsync fails. The storage
// error must be reported for that topic's partition only; the first is
// acknowledged.
func TestProduceErrorLandsOnItsTopic(t *testing.T) {
	fb := startFetchBroker(t)
	var ids [2][16]byte
	for i, name := range []string{"healthy", "failing"} {
		tp, err := fb.b.CreateTopic(broker.CreateTopicRequest{Name: name, Partitions: 1, ReplicationFactor: -1})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = tp.ID
	}
	failing := fb.b.Topic("failing").Partition(0)
	failing.InjectSyncFault(func() error { return errors.New("injected EIO") })
	defer failing.InjectSyncFault(nil)

	for _, v := range []int16{9, 13} {
		req := kmsg.NewPtrProduceRequest()
		req.Version = v
		req.Acks = -1
		req.TimeoutMillis = 5000
		for i, name := range []string{"healthy", "failing"} {
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic, rt.TopicID = name, ids[i]
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = plainFetchBatch("x")
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		resp := fb.dial(t).do(req).(*kmsg.ProduceResponse)
		if len(resp.Topics) != 2 {
			t.Fatalf("v%d: %d topics in the response, want 2", v, len(resp.Topics))
		}
		got := [2]int16{resp.Topics[0].Partitions[0].ErrorCode, resp.Topics[1].Partitions[0].ErrorCode}
		want := [2]int16{0, kerr.KafkaStorageError.Code}
		if got != want {
			t.Errorf("v%d: error codes (healthy, failing) = %v, want %v", v, got, want)
		}
	}
}
