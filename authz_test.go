package samsa_test

// The ACL matrix: Kafka's StandardAuthorizer semantics through real
// requests. alice has READ on topic t and group g; bob has nothing;
// admin is a super user; allow.everyone.if.no.acl.found=false.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/samsa-io/samsa"
)

const authzJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret" user_carol="carol-secret";`

func startAuthzBroker(t *testing.T) *samsa.Broker {
	t.Helper()
	return startBroker(t, t.TempDir(), map[string]string{
		"listeners":               "SASL_PLAINTEXT://127.0.0.1:0",
		"sasl.enabled.mechanisms": "PLAIN",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": authzJAAS,
		"authorizer.class.name":                               "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":                                         "User:admin",
		"allow.everyone.if.no.acl.found":                      "false",
	})
}

func userClient(t *testing.T, b *samsa.Broker, user string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, b, append([]kgo.Opt{kgo.SASL(plain.Auth{User: user, Pass: user + "-secret"}.AsMechanism()),
		kgo.RequestRetries(2), kgo.RecordRetries(2), kgo.RetryTimeout(3 * time.Second)}, opts...)...)
}

func mustACL(t *testing.T, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	res, err := adm.CreateACLs(testCtx(t), b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("CreateACLs: %v", r.Err)
		}
	}
}

func TestACLMatrix(t *testing.T) {
	b := startAuthzBroker(t)
	ctx := testCtx(t)
	admin := userClient(t, b, "admin")
	adm := kadm.NewClient(admin)
	for _, name := range []string{"t", "other", "logs-a", "metrics-a"} {
		if r, err := adm.CreateTopic(ctx, 1, 1, nil, name); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", name, err, r.Err)
		}
	}
	if err := admin.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatalf("the super user cannot produce: %v", err)
	}
	mustACL(t, adm, kadm.NewACLs().Allow("User:alice").Topics("t").Groups("g").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	mustACL(t, adm, kadm.NewACLs().Allow("User:alice").Topics("logs-").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternPrefixed))
	// carol may read everything but "other", which a DENY takes away.
	mustACL(t, adm, kadm.NewACLs().Allow("User:carol").Topics("*").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	mustACL(t, adm, kadm.NewACLs().Deny("User:carol").Topics("other").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))

	produce := func(user, topic string) error {
		cl := userClient(t, b, user)
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr()
	}
	consume := func(user, topic, group string) error {
		opts := []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
		if group != "" {
			opts = append(opts, kgo.ConsumerGroup(group), kgo.DisableAutoCommit())
		}
		cl := userClient(t, b, user, opts...)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for {
			fs := cl.PollFetches(cctx)
			if err := fs.Err0(); err != nil {
				return err
			}
			if fs.NumRecords() > 0 {
				if group == "" {
					return nil
				}
				return cl.CommitUncommittedOffsets(cctx)
			}
			if cctx.Err() != nil {
				return cctx.Err()
			}
		}
	}
	createTopic := func(user, topic string) error {
		r, err := kadm.NewClient(userClient(t, b, user)).CreateTopic(ctx, 1, 1, nil, topic)
		if err != nil {
			return err
		}
		return r.Err
	}
	deleteTopic := func(user, topic string) error {
		r, err := kadm.NewClient(userClient(t, b, user)).DeleteTopic(ctx, topic)
		if err != nil {
			return err
		}
		return r.Err
	}
	tests := []struct {
		name string
		do   func() error
		want error // nil: allowed
	}{
		{"alice consumes t in group g", func() error { return consume("alice", "t", "g") }, nil},
		{"alice cannot produce to t", func() error { return produce("alice", "t") }, kerr.TopicAuthorizationFailed},
		{"alice cannot create a topic", func() error { return createTopic("alice", "new") }, kerr.TopicAuthorizationFailed},
		{"alice cannot delete t", func() error { return deleteTopic("alice", "t") }, kerr.TopicAuthorizationFailed},
		{"alice cannot use group h", func() error { return consume("alice", "t", "h") }, kerr.GroupAuthorizationFailed},
		{"prefixed WRITE: alice produces to logs-a", func() error { return produce("alice", "logs-a") }, nil},
		{"prefixed WRITE does not cover metrics-a", func() error { return produce("alice", "metrics-a") }, kerr.TopicAuthorizationFailed},
		{"a wildcard ALLOW lets carol read t", func() error { return consume("carol", "t", "") }, nil},
		{"DENY beats a wildcard ALLOW", func() error { return consume("carol", "other", "") }, kerr.TopicAuthorizationFailed},
		{"bob with no ACL cannot produce", func() error { return produce("bob", "t") }, kerr.TopicAuthorizationFailed},
		{"bob with no ACL cannot consume", func() error { return consume("bob", "t", "") }, kerr.TopicAuthorizationFailed},
		{"bob with no ACL cannot join g", func() error {
			resp, err := (&kmsg.JoinGroupRequest{Version: 5, Group: "g", SessionTimeoutMillis: 10000, RebalanceTimeoutMillis: 10000,
				ProtocolType: "consumer", Protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}}).RequestWith(ctx, userClient(t, b, "bob"))
			if err != nil {
				return err
			}
			return kerr.ErrorForCode(resp.ErrorCode)
		}, kerr.GroupAuthorizationFailed},
		{"the super user deletes a topic", func() error { return deleteTopic("admin", "metrics-a") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if tt.want == nil && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}

	// Metadata lists only what a principal may describe, with the right
	// authorized operations.
	meta := func(user string, topics ...string) *kmsg.MetadataResponse {
		req := kmsg.NewPtrMetadataRequest()
		req.IncludeTopicAuthorizedOperations = true
		if topics != nil {
			for _, n := range topics {
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(n)
				req.Topics = append(req.Topics, rt)
			}
		}
		resp, err := req.RequestWith(ctx, userClient(t, b, user))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	names := func(r *kmsg.MetadataResponse) map[string]kmsg.MetadataResponseTopic {
		out := map[string]kmsg.MetadataResponseTopic{}
		for _, mt := range r.Topics {
			out[*mt.Topic] = mt
		}
		return out
	}
	aliceAll := names(meta("alice"))
	if _, ok := aliceAll["t"]; !ok || len(aliceAll) != 2 { // t (READ) and logs-a (WRITE), both imply DESCRIBE
		t.Errorf("alice's topic list: %v, want t and logs-a", aliceAll)
	}
	if ops := aliceAll["t"].AuthorizedOperations; ops != 1<<kmsg.ACLOperationRead|1<<kmsg.ACLOperationDescribe {
		t.Errorf("alice's authorized operations on t = %b, want READ|DESCRIBE", ops)
	}
	if got := names(meta("bob")); len(got) != 0 {
		t.Errorf("bob sees topics %v", got)
	}
	if mt := names(meta("bob", "t"))["t"]; mt.ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("bob's metadata for t: %v", kerr.ErrorForCode(mt.ErrorCode))
	}
	if got := names(meta("admin")); len(got) < 3 {
		t.Errorf("the super user sees %d topics", len(got))
	}

	// Idempotent producers need WRITE on some topic (KIP-679), not
	// IDEMPOTENT_WRITE; transactional ones WRITE on their id.
	init := func(user string, txnID *string) int16 {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = txnID
		req.TransactionTimeoutMillis = 10000
		resp, err := req.RequestWith(ctx, userClient(t, b, user))
		var ke *kerr.Error
		if errors.As(err, &ke) {
			return ke.Code // the client's FindCoordinator was refused first
		}
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	if code := init("alice", nil); code != 0 {
		t.Errorf("alice (WRITE on logs-*) InitProducerId: %v", kerr.ErrorForCode(code))
	}
	if code := init("bob", nil); code != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("bob InitProducerId: %v, want CLUSTER_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	if code := init("alice", kmsg.StringPtr("tx")); code != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Errorf("alice transactional InitProducerId: %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	// Broker-to-broker APIs need CLUSTER_ACTION.
	wm := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.Committed = 1, true
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = "t", []int32{0}
	m.Topics = append(m.Topics, mt)
	wm.Markers = append(wm.Markers, m)
	wresp, err := wm.RequestWith(ctx, userClient(t, b, "alice"))
	if err != nil || wresp.Markers[0].Topics[0].Partitions[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("alice's WriteTxnMarkers: %v %+v", err, wresp)
	}
	// ACL administration needs ALTER / DESCRIBE on the cluster.
	dreq := kmsg.NewPtrDescribeACLsRequest()
	dreq.ResourceType, dreq.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	dreq.Operation, dreq.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	dresp, err := dreq.RequestWith(ctx, userClient(t, b, "alice"))
	if err != nil || dresp.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("alice's DescribeAcls: %v %v, want CLUSTER_AUTHORIZATION_FAILED", err, kerr.ErrorForCode(dresp.ErrorCode))
	}
	if dresp, err = dreq.RequestWith(ctx, admin); err != nil || dresp.ErrorCode != 0 || len(dresp.Resources) != 5 {
		t.Errorf("admin's DescribeAcls: %v %+v, want the 5 resources with ACLs", err, dresp)
	}
}

// With an authorizer, no ACLs and allow.everyone.if.no.acl.found=false,
// nothing is allowed to an ordinary user.
func TestNoACLsAllowNothing(t *testing.T) {
	b := startAuthzBroker(t)
	ctx := testCtx(t)
	if r, err := kadm.NewClient(userClient(t, b, "admin")).CreateTopic(ctx, 1, 1, nil, "t"); err != nil || r.Err != nil {
		t.Fatal(err, r.Err)
	}
	bob := userClient(t, b, "bob")
	if err := bob.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("produce: %v", err)
	}
	if _, err := kadm.NewClient(bob).ListGroups(ctx); err != nil {
		t.Errorf("ListGroups should answer (with nothing): %v", err)
	}
	rcs, err := kadm.NewClient(bob).DescribeTopicConfigs(ctx, "t")
	if err == nil {
		err = rcs[0].Err
	}
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("DescribeConfigs: %v", err)
	}
}
