package api

import "github.com/twmb/franz-go/pkg/kmsg"

// versionRange is the inclusive range of versions of one API that the
// broker accepts and its handler implements.
type versionRange struct{ min, max int16 }

// supportedVersions declares, for every API the broker serves, the versions
// its handler implements, as Kafka's JSON schemas declare "validVersions".
// It is written out rather than taken from kmsg's MaxVersion so that a
// franz-go upgrade, which teaches kmsg new versions, cannot make the broker
// advertise a version no handler was written for
// (TestDeclaredVersionsMatchKmsg fails instead, saying what to implement).
//
// The old versions Kafka 4.0 dropped stay: kafka-python 2.0.2, old
// librdkafka and kafka-go still send them.
var supportedVersions = map[kmsg.Key]versionRange{
	kmsg.Produce:                 {0, 13}, // v13: topic ids (KIP-516)
	kmsg.Fetch:                   {0, 18}, // v13+: topic ids; v12+: KIP-227 sessions are flexible
	kmsg.ListOffsets:             {0, 11},
	kmsg.Metadata:                {0, 13},
	kmsg.OffsetCommit:            {0, 10},
	kmsg.OffsetFetch:             {0, 10},
	kmsg.FindCoordinator:         {0, 6},
	kmsg.JoinGroup:               {0, 9},
	kmsg.Heartbeat:               {0, 4},
	kmsg.LeaveGroup:              {0, 5},
	kmsg.SyncGroup:               {0, 5},
	kmsg.DescribeGroups:          {0, 6},
	kmsg.ListGroups:              {0, 5},
	kmsg.ApiVersions:             {0, 5},
	kmsg.CreateTopics:            {0, 7},
	kmsg.DeleteTopics:            {0, 6},
	kmsg.DeleteRecords:           {0, 2},
	kmsg.InitProducerID:          {0, 5},
	kmsg.OffsetForLeaderEpoch:    {0, 4},
	kmsg.DescribeACLs:            {0, 3},
	kmsg.CreateACLs:              {0, 3},
	kmsg.DeleteACLs:              {0, 3},
	kmsg.DescribeConfigs:         {0, 4},
	kmsg.AlterConfigs:            {0, 2},
	kmsg.DescribeLogDirs:         {0, 5},
	kmsg.CreatePartitions:        {0, 3},
	kmsg.DeleteGroups:            {0, 3},
	kmsg.IncrementalAlterConfigs: {0, 1},
	kmsg.OffsetDelete:            {0, 0},
	kmsg.DescribeClientQuotas:    {0, 1},
	// Security (acl.go, quotas.go, scram.go; SASL is answered by the server).
	kmsg.AlterClientQuotas:            {0, 1},
	kmsg.DescribeUserSCRAMCredentials: {0, 0},
	kmsg.AlterUserSCRAMCredentials:    {0, 0},
	kmsg.SASLHandshake:                {0, 1},
	kmsg.SASLAuthenticate:             {0, 2},
	kmsg.DescribeCluster:              {0, 2},
	kmsg.ConsumerGroupHeartbeat:       {0, 1},
	kmsg.ConsumerGroupDescribe:        {0, 1},
	// Transactions (txn_offsets.go). TxnOffsetCommit v6 (topic ids) is
	// newer than Kafka 4.1, which serves v0-v5.
	kmsg.TxnOffsetCommit: {0, 5},
	// Operating a cluster (replication_admin.go).
	kmsg.ElectLeaders:               {0, 2},
	kmsg.AlterPartitionAssignments:  {0, 1},
	kmsg.ListPartitionReassignments: {0, 0},
	kmsg.DescribeQuorum:             {0, 2},
	// Transactions (txn.go).
	kmsg.AddPartitionsToTxn:   {0, 5}, // v4+: batched, verify_only (from brokers)
	kmsg.AddOffsetsToTxn:      {0, 4},
	kmsg.EndTxn:               {0, 5}, // v5: transactions v2 (KIP-890)
	kmsg.WriteTxnMarkers:      {0, 2}, // v2: the marker's transaction version
	kmsg.DescribeTransactions: {0, 0},
	kmsg.ListTransactions:     {0, 2},
	kmsg.DescribeProducers:    {0, 0},
}
