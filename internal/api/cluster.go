package api

// DescribeCluster, DescribeLogDirs.
//
// DescribeCluster: the cluster id, a controller id (a live broker, as in
// Metadata) and the brokers: on a single broker itself; in a cluster every
// live one with its rack (v2: the fenced ones too, when asked). A broker
// answers for endpoint type BROKERS (1) only; CONTROLLERS (2) is
// UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker answers it (clients ask the
// controller listener for that). Cluster authorized operations are
// INT32_MIN unless asked for; asked for, they are every cluster operation,
// which is what Kafka reports without an authorizer.
//
// DescribeLogDirs: one log dir, the absolute data directory, with the size
// in bytes of every partition requested (null = all topics; unknown topics
// and partitions are left out, as in Kafka). Nothing is replicated in from
// elsewhere, so offset lag is 0 and nothing is a future replica.
//
// Version notes, DescribeCluster: v1 endpoint type; v2 include fenced
// brokers. DescribeLogDirs: v2 flexible; v3 top-level error code; v4
// total and usable bytes of the volume; v5 is_cordoned (never here).

import (
	"context"
	"path/filepath"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/server"
)

// Endpoint types of DescribeCluster v1+ (KIP-919).
const (
	endpointTypeBrokers     = 1
	endpointTypeControllers = 2
)

func (a *API) handleDescribeCluster(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	cfg := a.b.Config()
	resp.EndpointType = endpointTypeBrokers
	resp.ClusterAuthorizedOperations = authorizedOperationsOmitted
	if !a.authorizedCluster(c, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr("describing the cluster needs DESCRIBE on the cluster")
		return server.Ready(resp), nil
	}
	// A v0 request has no endpoint type; it arrives as 0 and means brokers.
	if req.Version >= 1 && req.EndpointType != endpointTypeBrokers {
		resp.EndpointType = req.EndpointType
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		msg := "this broker only describes endpoint type 1 (brokers)"
		if req.EndpointType == endpointTypeControllers {
			msg = "this broker does not answer for the controllers (endpoint type 2); ask it for endpoint type 1 (brokers)"
		}
		resp.ErrorMessage = kmsg.StringPtr(msg)
		return server.Ready(resp), nil
	}
	resp.ClusterID = a.b.ClusterID()
	resp.ControllerID = a.controllerID()
	if st := a.b.ClusterState(); st != nil {
		for _, id := range st.BrokerIDs() {
			r := st.Brokers[id]
			if r.Fenced && !req.IncludeFencedBrokers {
				continue
			}
			h, p, ok := a.registeredEndpoint(listenerOf(c), r.Host, r.Port, r.Listeners)
			if !ok {
				continue
			}
			br := kmsg.NewDescribeClusterResponseBroker()
			br.NodeID, br.Host, br.Port, br.IsFenced = r.ID, h, p, r.Fenced
			if r.Rack != "" {
				br.Rack = kmsg.StringPtr(r.Rack)
			}
			resp.Brokers = append(resp.Brokers, br)
		}
	} else {
		host, port := a.advertisedOn(listenerOf(c))
		br := kmsg.NewDescribeClusterResponseBroker()
		br.NodeID, br.Host, br.Port = cfg.NodeID, host, port
		resp.Brokers = append(resp.Brokers, br)
	}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = a.authorizedOps(c, kmsg.ACLResourceTypeCluster, clusterResourceName)
	}
	return server.Ready(resp), nil
}

func (a *API) handleDescribeLogDirs(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !a.authorizedCluster(c, kmsg.ACLOperationDescribe) {
		// Kafka: the error (v3+) and no directories.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return server.Ready(resp), nil
	}
	dataDir := a.b.Config().DataDir
	d := kmsg.NewDescribeLogDirsResponseDir()
	d.Dir = dataDir
	if abs, err := filepath.Abs(dataDir); err == nil {
		d.Dir = abs
	}
	d.TotalBytes, d.UsableBytes = -1, -1 // Kafka's "unknown"
	var st syscall.Statfs_t
	if err := syscall.Statfs(dataDir, &st); err == nil {
		d.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
		d.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
	} else {
		a.lg.Warn("statfs of the data directory failed", "dir", dataDir, "err", err)
	}

	d.Topics = []kmsg.DescribeLogDirsResponseDirTopic{}
	if req.Topics == nil {
		for _, t := range a.b.Topics() {
			d.Topics = append(d.Topics, logDirTopic(t, nil))
		}
	} else {
		for _, rt := range req.Topics {
			t := a.b.Topic(rt.Topic)
			if t == nil {
				continue
			}
			if dt := logDirTopic(t, rt.Partitions); len(dt.Partitions) > 0 {
				d.Topics = append(d.Topics, dt)
			}
		}
	}
	if len(a.b.OfflinePartitions()) > 0 {
		// samsa has one log dir, and a storage failure it saw is a fault
		// of the disk under it: the dir is reported offline, as Kafka
		// reports a failed log dir, while its healthy partitions (listed
		// still, unlike Kafka, whose failed dir takes them all down) keep
		// serving. The failed ones are left out of the listing.
		d.ErrorCode = kerr.KafkaStorageError.Code
	}
	resp.Dirs = append(resp.Dirs, d)
	return server.Ready(resp), nil
}

// logDirTopic describes the partitions of t listed in only (nil = all).
func logDirTopic(t *broker.Topic, only []int32) kmsg.DescribeLogDirsResponseDirTopic {
	dt := kmsg.NewDescribeLogDirsResponseDirTopic()
	dt.Topic = t.Name
	add := func(i int32) {
		p := t.Partition(i)
		if p == nil || p.StorageError() != nil {
			return
		}
		dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		dp.Partition = i
		dp.Size = p.Size()
		dt.Partitions = append(dt.Partitions, dp)
	}
	if only == nil {
		for i := range t.Count() {
			add(i) // in a cluster, only the replicas held here
		}
	} else {
		for _, i := range only {
			add(i)
		}
	}
	return dt
}
