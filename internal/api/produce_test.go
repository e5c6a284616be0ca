package api

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

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

// TestStorageFailureReported: once a partition's fsync failed, Metadata
// shows its replica offline with no leader (LEADER_NOT_AVAILABLE),
// DescribeLogDirs marks the log dir KAFKA_STORAGE_ERROR and leaves the
// partition out, and Produce and Fetch to it answer KAFKA_STORAGE_ERROR.
// The healthy partition next to it is unaffected.
func TestStorageFailureReported(t *testing.T) {
	fb := startFetchBroker(t)
	if _, err := fb.b.CreateTopic(broker.CreateTopicRequest{Name: "disk", Partitions: 2, ReplicationFactor: -1}); err != nil {
		t.Fatal(err)
	}
	sick := fb.b.Topic("disk").Partition(1)
	sick.InjectSyncFault(func() error { return errors.New("injected EIO") })
	fb.produceTo(t, "disk", 0, 1)
	if _, err := sick.Append(plainFetchBatch("x"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := sick.Flush(); err == nil {
		t.Fatal("flush succeeded with an injected fsync fault")
	}
	rc := fb.dial(t)

	mreq := kmsg.NewPtrMetadataRequest()
	mreq.Version = 12
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("disk")
	mreq.Topics = append(mreq.Topics, mt)
	mresp := rc.do(mreq).(*kmsg.MetadataResponse)
	parts := mresp.Topics[0].Partitions
	slices.SortFunc(parts, func(a, b kmsg.MetadataResponseTopicPartition) int { return int(a.Partition - b.Partition) })
	node := mresp.Brokers[0].NodeID
	if p := parts[0]; p.ErrorCode != 0 || p.Leader != node || len(p.OfflineReplicas) != 0 {
		t.Errorf("healthy partition: error %d leader %d offline %v", p.ErrorCode, p.Leader, p.OfflineReplicas)
	}
	if p := parts[1]; p.ErrorCode != kerr.LeaderNotAvailable.Code || p.Leader != -1 || !slices.Equal(p.OfflineReplicas, []int32{node}) {
		t.Errorf("failed partition: error %d leader %d offline %v; want LEADER_NOT_AVAILABLE, -1, [%d]", p.ErrorCode, p.Leader, p.OfflineReplicas, node)
	}

	dreq := kmsg.NewPtrDescribeLogDirsRequest()
	dreq.Version = 4
	dresp := rc.do(dreq).(*kmsg.DescribeLogDirsResponse)
	if len(dresp.Dirs) != 1 || dresp.Dirs[0].ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("DescribeLogDirs dirs %+v, want one with KAFKA_STORAGE_ERROR", dresp.Dirs)
	}
	for _, dt := range dresp.Dirs[0].Topics {
		for _, dp := range dt.Partitions {
			if dt.Topic == "disk" && dp.Partition == 1 {
				t.Error("DescribeLogDirs lists the failed partition")
			}
		}
	}

	preq := kmsg.NewPtrProduceRequest()
	preq.Version = 9
	preq.Acks = -1
	preq.TimeoutMillis = 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "disk"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Partition = 1
	pp.Records = plainFetchBatch("y")
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	if code := rc.do(preq).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.KafkaStorageError.Code {
		t.Errorf("produce to the failed partition: error %d, want KAFKA_STORAGE_ERROR", code)
	}
	lreq := kmsg.NewPtrListOffsetsRequest()
	lreq.Version = 4
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "disk"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.Timestamp, lp.CurrentLeaderEpoch = 1, -1, -1
	lt.Partitions = append(lt.Partitions, lp)
	lreq.Topics = append(lreq.Topics, lt)
	if code := rc.do(lreq).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.KafkaStorageError.Code {
		t.Errorf("list offsets of the failed partition: error %d, want KAFKA_STORAGE_ERROR", code)
	}
	fresp := rc.fetch(fetchReq(11, 0, -1, "disk", [16]byte{}, map[int32]int64{1: 0}))
	if code := fresp.Topics[0].Partitions[0].ErrorCode; code != kerr.KafkaStorageError.Code {
		t.Errorf("fetch from the failed partition: error %d, want KAFKA_STORAGE_ERROR", code)
	}
}

// TestErrorCodesForResourceLimits: running out of file descriptors is a
// policy refusal with its own message, not a storage error.
func TestErrorCodesForResourceLimits(t *testing.T) {
	if got := errorCode(fmt.Errorf("create: %w", broker.ErrDescriptorLimit)); got != kerr.PolicyViolation.Code {
		t.Fatalf("ErrDescriptorLimit maps to %d, want POLICY_VIOLATION", got)
	}
}
