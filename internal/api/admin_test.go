package api_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-io/samsa"
)

// adminHarness is a real broker on loopback with a franz-go client and an
// admin client on it.
type adminHarness struct {
	b   *samsa.Broker
	cl  *kgo.Client
	adm *kadm.Client
	ctx context.Context
}

func startAdmin(t *testing.T, opts ...kgo.Opt) *adminHarness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	b, err := samsa.Start(ctx, samsa.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(cl.Close)
	return &adminHarness{b: b, cl: cl, adm: kadm.NewClient(cl), ctx: ctx}
}

func (h *adminHarness) create(t *testing.T, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := h.adm.CreateTopic(h.ctx, partitions, -1, configs, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v (%s)", topic, err, resp.Err, resp.ErrMessage)
	}
}

// topicConfigs returns the described configs of topic by key.
func (h *adminHarness) topicConfigs(t *testing.T, topic string) map[string]kadm.Config {
	t.Helper()
	rcs, err := h.adm.DescribeTopicConfigs(h.ctx, topic)
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe configs %s: %v %v", topic, err, rc.Err)
	}
	m := make(map[string]kadm.Config, len(rc.Configs))
	for _, c := range rc.Configs {
		m[c.Key] = c
	}
	return m
}

func sp(s string) *string { return &s }

// pinVersion caps one API at version v, to exercise old versions.
func pinVersion(key kmsg.Key, v int16) *kversion.Versions {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(int16(key), v)
	return vs
}

func TestCreateTopics(t *testing.T) {
	h := startAdmin(t)
	h.create(t, "existing", 2, nil)

	for _, tc := range []struct {
		name       string
		topic      string
		partitions int32
		rf         int16
		configs    map[string]*string
		validate   bool
		want       error
		msgHas     string
	}{
		{name: "defaults", topic: "defaults", partitions: -1, rf: -1},
		{name: "with config", topic: "configured", partitions: 3, rf: 1, configs: map[string]*string{"retention.ms": sp("1000")}},
		{name: "validate only", topic: "validated", partitions: 2, rf: 1, validate: true},
		{name: "exists", topic: "existing", partitions: 1, rf: 1, want: kerr.TopicAlreadyExists},
		{name: "invalid name", topic: "bad/name", partitions: 1, rf: 1, want: kerr.InvalidTopicException},
		{name: "zero partitions", topic: "zero", partitions: 0, rf: 1, want: kerr.InvalidPartitions},
		{name: "replication 3", topic: "rf3", partitions: 1, rf: 3, want: kerr.InvalidReplicationFactor},
		{name: "unknown config", topic: "badcfg", partitions: 1, rf: 1, configs: map[string]*string{"no.such.config": sp("1")}, want: kerr.InvalidConfig, msgHas: "no.such.config"},
		{name: "bad value", topic: "badval", partitions: 1, rf: 1, configs: map[string]*string{"retention.ms": sp("soon")}, want: kerr.InvalidConfig, msgHas: "retention.ms"},
		{name: "bad value validate only", topic: "badval2", partitions: 1, rf: 1, configs: map[string]*string{"cleanup.policy": sp("shred")}, validate: true, want: kerr.InvalidConfig, msgHas: "cleanup.policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			create := h.adm.CreateTopics
			if tc.validate {
				create = h.adm.ValidateCreateTopics
			}
			resps, err := create(h.ctx, tc.partitions, tc.rf, tc.configs, tc.topic)
			if err != nil {
				t.Fatal(err)
			}
			r := resps[tc.topic]
			if !errors.Is(r.Err, tc.want) || (tc.want == nil && r.Err != nil) {
				t.Fatalf("err = %v (%s), want %v", r.Err, r.ErrMessage, tc.want)
			}
			if tc.msgHas != "" && !strings.Contains(r.ErrMessage, tc.msgHas) {
				t.Errorf("message %q does not name %q", r.ErrMessage, tc.msgHas)
			}
			md, err := h.adm.Metadata(h.ctx, tc.topic)
			if err != nil {
				t.Fatal(err)
			}
			exists := md.Topics[tc.topic].Err == nil
			if wantExists := tc.want == nil && !tc.validate || tc.topic == "existing"; exists != wantExists {
				t.Fatalf("topic exists = %v, want %v", exists, wantExists)
			}
			if tc.want != nil {
				return
			}
			wantParts := tc.partitions
			if wantParts == -1 {
				wantParts = 1 // num.partitions default
			}
			if r.NumPartitions != wantParts || r.ReplicationFactor != 1 {
				t.Errorf("response says %d partitions, rf %d; want %d, 1", r.NumPartitions, r.ReplicationFactor, wantParts)
			}
			if !tc.validate {
				if r.ID == [16]byte{} || r.ID != md.Topics[tc.topic].ID {
					t.Errorf("topic id %v, metadata says %v", r.ID, md.Topics[tc.topic].ID)
				}
				if got := len(md.Topics[tc.topic].Partitions); int32(got) != wantParts {
					t.Errorf("metadata has %d partitions, want %d", got, wantParts)
				}
			}
		})
	}

	// The v5+ response lists the resulting configs with their sources.
	resp, err := kmsg.NewPtrCreateTopicsRequest().RequestWith(h.ctx, h.cl)
	if err != nil || len(resp.Topics) != 0 {
		t.Fatalf("empty create: %v %v", err, resp)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "described", 1, 1
	rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms", Value: sp("5000")}}
	req.Topics = append(req.Topics, rt)
	resp, err = req.RequestWith(h.ctx, h.cl)
	if err != nil {
		t.Fatal(err)
	}
	sources := make(map[string]int8)
	values := make(map[string]string)
	for _, c := range resp.Topics[0].Configs {
		sources[c.Name] = c.Source
		if c.Value != nil {
			values[c.Name] = *c.Value
		}
	}
	if sources["retention.ms"] != int8(kmsg.ConfigSourceDynamicTopicConfig) || values["retention.ms"] != "5000" {
		t.Errorf("retention.ms: source %d value %q", sources["retention.ms"], values["retention.ms"])
	}
	if sources["cleanup.policy"] != int8(kmsg.ConfigSourceDefaultConfig) || values["cleanup.policy"] != "delete" {
		t.Errorf("cleanup.policy: source %d value %q", sources["cleanup.policy"], values["cleanup.policy"])
	}
}

func TestCreateTopicsRequestChecks(t *testing.T) {
	h := startAdmin(t)
	assign := func(parts ...[]int32) []kmsg.CreateTopicsRequestTopicReplicaAssignment {
		var as []kmsg.CreateTopicsRequestTopicReplicaAssignment
		for i, r := range parts {
			as = append(as, kmsg.CreateTopicsRequestTopicReplicaAssignment{Partition: int32(i), Replicas: r})
		}
		return as
	}
	topic := func(name string, n int32, rf int16, as []kmsg.CreateTopicsRequestTopicReplicaAssignment) kmsg.CreateTopicsRequestTopic {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor, rt.ReplicaAssignment = name, n, rf, as
		return rt
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Topics = []kmsg.CreateTopicsRequestTopic{
		topic("dup", 1, 1, nil),
		topic("assigned", -1, -1, assign([]int32{1}, []int32{1}, []int32{1})),
		topic("dup", 2, 1, nil),
		topic("other-broker", -1, -1, assign([]int32{2})),
		topic("two-replicas", -1, -1, assign([]int32{1, 2})),
		topic("both", 3, -1, assign([]int32{1})),
		topic("gap", -1, -1, []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 1, Replicas: []int32{1}}}),
	}
	resp, err := req.RequestWith(h.ctx, h.cl)
	if err != nil {
		t.Fatal(err)
	}
	want := []*kerr.Error{kerr.InvalidRequest, nil, kerr.InvalidRequest, kerr.InvalidReplicaAssignment,
		kerr.InvalidReplicaAssignment, kerr.InvalidRequest, kerr.InvalidReplicaAssignment}
	if len(resp.Topics) != len(want) {
		t.Fatalf("%d topics answered, want %d", len(resp.Topics), len(want))
	}
	for i, rt := range resp.Topics {
		var wantCode int16
		if want[i] != nil {
			wantCode = want[i].Code
		}
		if rt.ErrorCode != wantCode {
			t.Errorf("%s: error %v, want %v", rt.Topic, kerr.ErrorForCode(rt.ErrorCode), want[i])
		}
		if wantCode != 0 && (rt.ErrorMessage == nil || *rt.ErrorMessage == "") {
			t.Errorf("%s: no error message", rt.Topic)
		}
	}
	md, err := h.adm.Metadata(h.ctx, "assigned", "dup")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(md.Topics["assigned"].Partitions); n != 3 {
		t.Errorf("assigned has %d partitions, want 3", n)
	}
	if md.Topics["dup"].Err == nil {
		t.Errorf("a duplicated topic was created")
	}
}

func TestDescribeAndAlterTopicConfigs(t *testing.T) {
	h := startAdmin(t)
	h.create(t, "cfg", 1, map[string]*string{"segment.bytes": sp("1048576")})

	cs := h.topicConfigs(t, "cfg")
	for _, tc := range []struct {
		key    string
		value  string
		source kmsg.ConfigSource
	}{
		{"segment.bytes", "1048576", kmsg.ConfigSourceDynamicTopicConfig},
		{"retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig},
		{"cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig},
	} {
		c, ok := cs[tc.key]
		if !ok {
			t.Fatalf("%s not described", tc.key)
		}
		if c.MaybeValue() != tc.value || c.Source != tc.source {
			t.Errorf("%s = %q from %v, want %q from %v", tc.key, c.MaybeValue(), c.Source, tc.value, tc.source)
		}
	}

	// Incremental: set retention.ms, append compact to cleanup.policy.
	set := []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: sp("3600000")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: sp("compact")},
	}
	mustAlter(t)(h.adm.AlterTopicConfigs(h.ctx, set, "cfg"))
	cs = h.topicConfigs(t, "cfg")
	if c := cs["retention.ms"]; c.MaybeValue() != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("after set: retention.ms = %q from %v", c.MaybeValue(), c.Source)
	}
	if len(cs["retention.ms"].Synonyms) < 2 {
		t.Errorf("retention.ms synonyms %v: want the override and the broker default", cs["retention.ms"].Synonyms)
	}
	if c := cs["cleanup.policy"]; !strings.Contains(c.MaybeValue(), "compact") || !strings.Contains(c.MaybeValue(), "delete") {
		t.Errorf("after append: cleanup.policy = %q", c.MaybeValue())
	}
	if c := cs["segment.bytes"]; c.MaybeValue() != "1048576" {
		t.Errorf("incremental alter lost segment.bytes: %q", c.MaybeValue())
	}

	// Subtract and delete.
	mustAlter(t)(h.adm.AlterTopicConfigs(h.ctx, []kadm.AlterConfig{
		{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: sp("delete")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, "cfg"))
	cs = h.topicConfigs(t, "cfg")
	if c := cs["cleanup.policy"]; c.MaybeValue() != "compact" {
		t.Errorf("after subtract: cleanup.policy = %q", c.MaybeValue())
	}
	if c := cs["retention.ms"]; c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("after delete: retention.ms from %v", c.Source)
	}

	// Validate-only changes nothing; bad keys/values and append on a
	// non-list fail with INVALID_CONFIG.
	mustAlter(t)(h.adm.ValidateAlterTopicConfigs(h.ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: sp("1")}}, "cfg"))
	if c := h.topicConfigs(t, "cfg")["retention.ms"]; c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("validate-only changed retention.ms: %q from %v", c.MaybeValue(), c.Source)
	}
	for _, bad := range []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "no.such.config", Value: sp("1")},
		{Op: kadm.SetConfig, Name: "retention.ms", Value: sp("abc")},
		{Op: kadm.AppendConfig, Name: "retention.ms", Value: sp("1")},
	} {
		resps, err := h.adm.AlterTopicConfigs(h.ctx, []kadm.AlterConfig{bad}, "cfg")
		if err != nil {
			t.Fatal(err)
		}
		if r := resps[0]; !errors.Is(r.Err, kerr.InvalidConfig) || !strings.Contains(r.ErrMessage, bad.Name) {
			t.Errorf("%v %s: err %v (%s), want INVALID_CONFIG naming the key", bad.Op, bad.Name, r.Err, r.ErrMessage)
		}
	}

	// Legacy AlterConfigs replaces the whole set: segment.bytes and
	// cleanup.policy go back to their defaults.
	mustAlter(t)(h.adm.AlterTopicConfigsState(h.ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: sp("120000")}}, "cfg"))
	cs = h.topicConfigs(t, "cfg")
	if c := cs["retention.ms"]; c.MaybeValue() != "120000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("after legacy alter: retention.ms = %q from %v", c.MaybeValue(), c.Source)
	}
	for _, k := range []string{"segment.bytes", "cleanup.policy"} {
		if c := cs[k]; c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("after legacy alter: %s = %q from %v, want the default", k, c.MaybeValue(), c.Source)
		}
	}

	// Unknown topics.
	rcs, err := h.adm.DescribeTopicConfigs(h.ctx, "nope")
	if err != nil {
		t.Fatal(err)
	}
	if rc, _ := rcs.On("nope", nil); !errors.Is(rc.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("describe unknown topic: %v", rc.Err)
	}
	resps, err := h.adm.AlterTopicConfigs(h.ctx, set, "nope")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(resps[0].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("alter unknown topic: %v", resps[0].Err)
	}
}

// mustAlter fails the test if an alter call or any of its resources
// failed: mustAlter(t)(adm.AlterTopicConfigs(...)).
func mustAlter(t *testing.T) func(kadm.AlterConfigsResponses, error) {
	return func(resps kadm.AlterConfigsResponses, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resps {
			if r.Err != nil {
				t.Fatalf("alter %s: %v (%s)", r.Name, r.Err, r.ErrMessage)
			}
		}
	}
}

func TestDescribeConfigsOptions(t *testing.T) {
	h := startAdmin(t)
	h.create(t, "opts", 1, nil)

	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeDocumentation = true
	topicRes := kmsg.NewDescribeConfigsRequestResource()
	topicRes.ResourceType, topicRes.ResourceName = kmsg.ConfigResourceTypeTopic, "opts"
	topicRes.ConfigNames = []string{"retention.ms", "no.such.config"}
	brokerRes := kmsg.NewDescribeConfigsRequestResource()
	brokerRes.ResourceType, brokerRes.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
	clusterRes := kmsg.NewDescribeConfigsRequestResource()
	clusterRes.ResourceType = kmsg.ConfigResourceTypeBroker
	otherBroker := kmsg.NewDescribeConfigsRequestResource()
	otherBroker.ResourceType, otherBroker.ResourceName = kmsg.ConfigResourceTypeBroker, "7"
	logger := kmsg.NewDescribeConfigsRequestResource()
	logger.ResourceType, logger.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, "1"
	badName := kmsg.NewDescribeConfigsRequestResource()
	badName.ResourceType, badName.ResourceName = kmsg.ConfigResourceTypeTopic, "bad name"
	req.Resources = []kmsg.DescribeConfigsRequestResource{topicRes, brokerRes, clusterRes, otherBroker, logger, badName}
	// Sent to broker 1 directly: the client would route the resource of
	// broker 7 to a broker that does not exist.
	kresp, err := h.cl.Broker(1).Request(h.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 6 {
		t.Fatalf("%d resources answered", len(resp.Resources))
	}
	tr := resp.Resources[0]
	if tr.ErrorCode != 0 || len(tr.Configs) != 1 || tr.Configs[0].Name != "retention.ms" {
		t.Fatalf("topic resource: %+v", tr)
	}
	c := tr.Configs[0]
	if c.Documentation == nil || *c.Documentation == "" || c.ConfigType != kmsg.ConfigTypeLong || c.ConfigSynonyms != nil {
		t.Errorf("retention.ms: doc %v type %v synonyms %v", c.Documentation, c.ConfigType, c.ConfigSynonyms)
	}
	br := resp.Resources[1]
	found := false
	for _, c := range br.Configs {
		if c.Name == "num.partitions" {
			found = c.Value != nil && *c.Value == "1" && c.ReadOnly
		}
	}
	if br.ErrorCode != 0 || !found {
		t.Errorf("broker resource: error %d, num.partitions found=%v in %d configs", br.ErrorCode, found, len(br.Configs))
	}
	if r := resp.Resources[2]; r.ErrorCode != 0 || len(r.Configs) != 0 {
		t.Errorf("cluster default: error %d, %d configs", r.ErrorCode, len(r.Configs))
	}
	if r := resp.Resources[3]; r.ErrorCode != kerr.InvalidRequest.Code || r.ErrorMessage == nil {
		t.Errorf("other broker: error %d %v", r.ErrorCode, r.ErrorMessage)
	}
	if r := resp.Resources[4]; r.ErrorCode != 0 || len(r.Configs) != 0 {
		t.Errorf("broker logger: error %d, %d configs", r.ErrorCode, len(r.Configs))
	}
	if r := resp.Resources[5]; r.ErrorCode != kerr.InvalidTopicException.Code {
		t.Errorf("bad topic name: error %d", r.ErrorCode)
	}

	// Dynamic broker configs are refused with a message.
	resps, err := h.adm.AlterBrokerConfigs(h.ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "num.partitions", Value: sp("3")}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := resps[0]; !errors.Is(r.Err, kerr.InvalidRequest) || !strings.Contains(r.ErrMessage, "not supported") {
		t.Errorf("alter broker configs: %v (%s)", r.Err, r.ErrMessage)
	}
}

// TestDescribeConfigsV0 checks the v0 is_default flag, the only source
// information v0 has.
func TestDescribeConfigsV0(t *testing.T) {
	h := startAdmin(t, kgo.MaxVersions(pinVersion(kmsg.DescribeConfigs, 0)))
	h.create(t, "old", 1, map[string]*string{"retention.ms": sp("1000")})
	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "old"
	res.ConfigNames = []string{"retention.ms", "cleanup.policy"}
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(h.ctx, h.cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version != 0 {
		t.Fatalf("answered at v%d", resp.Version)
	}
	isDefault := map[string]bool{}
	for _, c := range resp.Resources[0].Configs {
		isDefault[c.Name] = c.IsDefault
	}
	if isDefault["retention.ms"] || !isDefault["cleanup.policy"] || len(isDefault) != 2 {
		t.Errorf("is_default: %v", isDefault)
	}
}

func TestCreatePartitions(t *testing.T) {
	h := startAdmin(t)
	h.create(t, "grow", 1, nil)

	if resps, err := h.adm.ValidateCreatePartitions(h.ctx, 2, "grow"); err != nil || resps["grow"].Err != nil {
		t.Fatalf("validate: %v %v", err, resps["grow"].Err)
	}
	if n := h.partitions(t, "grow"); n != 1 {
		t.Fatalf("validate-only grew the topic to %d", n)
	}
	if resps, err := h.adm.CreatePartitions(h.ctx, 2, "grow"); err != nil || resps["grow"].Err != nil {
		t.Fatalf("create partitions: %v %v", err, resps["grow"].Err)
	}
	if n := h.partitions(t, "grow"); n != 3 {
		t.Fatalf("topic has %d partitions, want 3", n)
	}
	resps, err := h.adm.UpdatePartitions(h.ctx, 2, "grow")
	if err != nil {
		t.Fatal(err)
	}
	if r := resps["grow"]; !errors.Is(r.Err, kerr.InvalidPartitions) || r.ErrMessage == "" {
		t.Errorf("shrink: %v %q", r.Err, r.ErrMessage)
	}
	resps, err = h.adm.CreatePartitions(h.ctx, 1, "nope")
	if err != nil {
		t.Fatal(err)
	}
	if r := resps["nope"]; !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("unknown topic: %v", r.Err)
	}

	// A manual assignment must name us.
	for _, tc := range []struct {
		replicas []int32
		want     int16
	}{
		{[]int32{2}, kerr.InvalidReplicaAssignment.Code},
		{[]int32{1}, 0},
	} {
		req := kmsg.NewPtrCreatePartitionsRequest()
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "grow", 4
		rt.Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: tc.replicas}}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(h.ctx, h.cl)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Topics[0].ErrorCode; got != tc.want {
			t.Errorf("assignment %v: error %d, want %d", tc.replicas, got, tc.want)
		}
	}
	if n := h.partitions(t, "grow"); n != 4 {
		t.Fatalf("topic has %d partitions, want 4", n)
	}
}

func (h *adminHarness) partitions(t *testing.T, topic string) int {
	t.Helper()
	md, err := h.adm.Metadata(h.ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return len(md.Topics[topic].Partitions)
}

func TestDeleteRecords(t *testing.T) {
	h := startAdmin(t)
	h.create(t, "dr", 1, nil)
	for i := range 10 {
		r := &kgo.Record{Topic: "dr", Partition: 0, Value: []byte(strconv.Itoa(i))}
		if err := h.cl.ProduceSync(h.ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		offset  int64
		want    error
		wantLow int64
	}{
		{"to 4", 4, nil, 4},
		{"below start is a no-op", 2, nil, 4},
		{"beyond hw", 11, kerr.OffsetOutOfRange, -1},
		{"to hw", -1, nil, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var os kadm.Offsets
			os.Add(kadm.Offset{Topic: "dr", Partition: 0, At: tc.offset})
			resps, err := h.adm.DeleteRecords(h.ctx, os)
			if err != nil {
				t.Fatal(err)
			}
			r, ok := resps.Lookup("dr", 0)
			if !ok {
				t.Fatal("no answer for dr/0")
			}
			if !errors.Is(r.Err, tc.want) || (tc.want == nil && r.Err != nil) {
				t.Fatalf("err %v, want %v", r.Err, tc.want)
			}
			if tc.want == nil && r.LowWatermark != tc.wantLow {
				t.Errorf("low watermark %d, want %d", r.LowWatermark, tc.wantLow)
			}
			if tc.want != nil {
				return
			}
			listed, err := h.adm.ListStartOffsets(h.ctx, "dr")
			if err != nil {
				t.Fatal(err)
			}
			if lo, _ := listed.Lookup("dr", 0); lo.Offset != tc.wantLow {
				t.Errorf("ListOffsets earliest = %d, want %d", lo.Offset, tc.wantLow)
			}
		})
	}

	// Unknown partitions, sent to the broker directly (the client would
	// refuse to route them).
	req := kmsg.NewPtrDeleteRecordsRequest()
	for _, tp := range []struct {
		topic string
		p     int32
	}{{"dr", 5}, {"nope", 0}} {
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = tp.topic
		rt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{{Partition: tp.p, Offset: 0}}
		req.Topics = append(req.Topics, rt)
	}
	kresp, err := h.cl.Broker(1).Request(h.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range kresp.(*kmsg.DeleteRecordsResponse).Topics {
		if p := rt.Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code || p.LowWatermark != -1 {
			t.Errorf("%s/%d: error %d, low watermark %d", rt.Topic, p.Partition, p.ErrorCode, p.LowWatermark)
		}
	}
}

func TestDescribeCluster(t *testing.T) {
	h := startAdmin(t)
	req := kmsg.NewPtrDescribeClusterRequest()
	resp, err := req.RequestWith(h.ctx, h.cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || resp.ClusterID == "" || resp.ControllerID != 1 || resp.EndpointType != 1 {
		t.Fatalf("describe cluster: %+v", resp)
	}
	if resp.ClusterAuthorizedOperations != -2147483648 {
		t.Errorf("authorized operations %d without asking", resp.ClusterAuthorizedOperations)
	}
	if len(resp.Brokers) != 1 {
		t.Fatalf("%d brokers", len(resp.Brokers))
	}
	b := resp.Brokers[0]
	if addr := b.Host + ":" + strconv.Itoa(int(b.Port)); b.NodeID != 1 || addr != h.b.Addr() || b.IsFenced {
		t.Errorf("broker %+v, listening on %s", b, h.b.Addr())
	}

	req.IncludeClusterAuthorizedOperations = true
	if resp, err = req.RequestWith(h.ctx, h.cl); err != nil {
		t.Fatal(err)
	}
	if ops := resp.ClusterAuthorizedOperations; ops <= 0 || ops&(1<<8) == 0 {
		t.Errorf("authorized operations %b: want DESCRIBE (bit 8) among them", ops)
	}

	req.EndpointType = 2
	if resp, err = req.RequestWith(h.ctx, h.cl); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedEndpointType.Code {
		t.Errorf("controllers endpoint: error %d", resp.ErrorCode)
	}
}

func TestDescribeLogDirs(t *testing.T) {
	h := startAdmin(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	h.create(t, "ld", 2, nil)
	h.create(t, "other", 1, nil)
	if err := h.cl.ProduceSync(h.ctx, &kgo.Record{Topic: "ld", Partition: 1, Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	all, err := h.adm.DescribeBrokerLogDirs(h.ctx, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("%d log dirs", len(all))
	}
	for dir, d := range all {
		if d.Err != nil {
			t.Fatalf("dir %s: %v", dir, d.Err)
		}
		if !filepath.IsAbs(dir) {
			t.Errorf("dir %q is not absolute", dir)
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			t.Errorf("dir %q: %v", dir, err)
		}
		if d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
			t.Errorf("total %d usable %d", d.TotalBytes, d.UsableBytes)
		}
		p0, ok0 := d.Topics.Lookup("ld", 0)
		p1, ok1 := d.Topics.Lookup("ld", 1)
		_, ok2 := d.Topics.Lookup("other", 0)
		if !ok0 || !ok1 || !ok2 {
			t.Fatalf("partitions missing: %v %v %v", ok0, ok1, ok2)
		}
		if p0.Size != 0 || p1.Size <= 0 {
			t.Errorf("sizes: ld/0 %d, ld/1 %d", p0.Size, p1.Size)
		}
	}

	some, err := h.adm.DescribeBrokerLogDirs(h.ctx, 1, kadm.TopicsSet{"ld": {1: {}}, "nope": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range some {
		n := 0
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			n++
			if p.Topic != "ld" || p.Partition != 1 {
				t.Errorf("unrequested partition %s/%d", p.Topic, p.Partition)
			}
		})
		if n != 1 {
			t.Errorf("%d partitions, want 1", n)
		}
	}
}

func TestDeleteTopics(t *testing.T) {
	h := startAdmin(t)
	h.create(t, "gone", 2, nil)
	h.create(t, "by-id", 1, nil)

	resps, err := h.adm.DeleteTopics(h.ctx, "gone", "nope")
	if err != nil {
		t.Fatal(err)
	}
	if r := resps["gone"]; r.Err != nil {
		t.Errorf("delete: %v", r.Err)
	}
	if r := resps["nope"]; !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("delete unknown: %v", r.Err)
	}
	if md, err := h.adm.Metadata(h.ctx, "gone"); err != nil || !errors.Is(md.Topics["gone"].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("after delete, metadata: %v %v", err, md.Topics["gone"].Err)
	}

	md, err := h.adm.Metadata(h.ctx, "by-id")
	if err != nil {
		t.Fatal(err)
	}
	id := md.Topics["by-id"].ID
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Topics = []kmsg.DeleteTopicsRequestTopic{{TopicID: id}, {TopicID: [16]byte{1, 2, 3}}, {Topic: sp("x"), TopicID: id}}
	resp, err := req.RequestWith(h.ctx, h.cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version < 6 {
		t.Fatalf("negotiated DeleteTopics v%d; topic ids need v6+, which the broker serves", resp.Version)
	}
	want := []int16{0, kerr.UnknownTopicID.Code, kerr.InvalidRequest.Code}
	for i, rt := range resp.Topics {
		if rt.ErrorCode != want[i] {
			t.Errorf("topic %d: error %d, want %d", i, rt.ErrorCode, want[i])
		}
	}
	if rt := resp.Topics[0]; rt.Topic == nil || *rt.Topic != "by-id" || rt.TopicID != id {
		t.Errorf("by id: answered %v %v", rt.Topic, rt.TopicID)
	}
	if left, err := h.adm.ListTopics(h.ctx); err != nil || len(left) != 0 {
		t.Errorf("topics left: %v %v", left.Names(), err)
	}
}

// TestAdminEveryVersion sends each admin API at every version kmsg knows
// and checks the broker answers at that version without an error: old
// clients (kafka-python 2.0.2 sends CreateTopics v3, DescribeConfigs v2)
// must get the same behaviour as new ones.
func TestAdminEveryVersion(t *testing.T) {
	h := startAdmin(t)
	h.create(t, "ev", 1, nil)
	topicRes := func() (kmsg.ConfigResourceType, string) { return kmsg.ConfigResourceTypeTopic, "ev" }
	for _, tc := range []struct {
		key   kmsg.Key
		build func(v int16) kmsg.Request
		check func(kmsg.Response) int16 // the first error code in the answer
	}{
		{kmsg.CreateTopics, func(v int16) kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "ct-"+strconv.Itoa(int(v)), 1, 1
			r.Topics = append(r.Topics, rt)
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode }},
		{kmsg.CreatePartitions, func(v int16) kmsg.Request {
			r := kmsg.NewPtrCreatePartitionsRequest()
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = "ev", int32(v)+2
			r.Topics = append(r.Topics, rt)
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode }},
		{kmsg.DeleteRecords, func(int16) kmsg.Request {
			r := kmsg.NewPtrDeleteRecordsRequest()
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = "ev"
			rt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: -1}}
			r.Topics = append(r.Topics, rt)
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode }},
		{kmsg.DescribeConfigs, func(int16) kmsg.Request {
			r := kmsg.NewPtrDescribeConfigsRequest()
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = topicRes()
			r.Resources = append(r.Resources, rr)
			return r
		}, func(r kmsg.Response) int16 {
			res := r.(*kmsg.DescribeConfigsResponse).Resources[0]
			if len(res.Configs) == 0 {
				return -100
			}
			return res.ErrorCode
		}},
		{kmsg.AlterConfigs, func(int16) kmsg.Request {
			r := kmsg.NewPtrAlterConfigsRequest()
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = topicRes()
			rr.Configs = []kmsg.AlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: sp("1000")}}
			r.Resources = append(r.Resources, rr)
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode }},
		{kmsg.IncrementalAlterConfigs, func(int16) kmsg.Request {
			r := kmsg.NewPtrIncrementalAlterConfigsRequest()
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = topicRes()
			rr.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Op: kmsg.IncrementalAlterConfigOpDelete}}
			r.Resources = append(r.Resources, rr)
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode }},
		{kmsg.DescribeCluster, func(int16) kmsg.Request { return kmsg.NewPtrDescribeClusterRequest() },
			func(r kmsg.Response) int16 { return r.(*kmsg.DescribeClusterResponse).ErrorCode }},
		{kmsg.DescribeLogDirs, func(int16) kmsg.Request { return kmsg.NewPtrDescribeLogDirsRequest() },
			func(r kmsg.Response) int16 {
				resp := r.(*kmsg.DescribeLogDirsResponse)
				if len(resp.Dirs) != 1 || len(resp.Dirs[0].Topics) == 0 {
					return -100
				}
				return resp.ErrorCode
			}},
		{kmsg.DeleteTopics, func(v int16) kmsg.Request {
			name := "ct-" + strconv.Itoa(int(v))
			r := kmsg.NewPtrDeleteTopicsRequest()
			r.TopicNames = []string{name}
			r.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: &name}}
			return r
		}, func(r kmsg.Response) int16 { return r.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode }},
	} {
		max := kmsg.RequestForKey(int16(tc.key)).MaxVersion()
		for v := int16(0); v <= max; v++ {
			t.Run(kmsg.NameForKey(int16(tc.key))+"/v"+strconv.Itoa(int(v)), func(t *testing.T) {
				cl, err := kgo.NewClient(kgo.SeedBrokers(h.b.Addr()), kgo.MaxVersions(pinVersion(tc.key, v)))
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Close()
				req := tc.build(v)
				resp, err := cl.Broker(1).Request(h.ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if resp.GetVersion() != v {
					t.Fatalf("answered at v%d", resp.GetVersion())
				}
				if code := tc.check(resp); code != 0 {
					t.Errorf("error %d (%v)", code, kerr.ErrorForCode(code))
				}
			})
		}
	}
}
