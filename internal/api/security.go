package api

// Authorization and quotas for every handler.
//
// ACLs live in the metadata (internal/metadata/security.go); the
// authorizer is rebuilt from them when they change and shared, immutable,
// by all connections. With no authorizer.class.name every operation is
// allowed, as in Kafka.

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/auth/acl"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/quota"
	"github.com/samsa-io/samsa/internal/server"
	"github.com/samsa-io/samsa/internal/wire"
)

// SecurityOptions configure authorization and quotas (SetSecurity).
type SecurityOptions struct {
	// Authorizer enables ACL checks (authorizer.class.name is set).
	Authorizer                bool
	SuperUsers                []string
	AllowEveryoneIfNoACLFound bool
	// Quotas measures clients against the quotas of the metadata; nil
	// enforces none.
	Quotas *quota.Manager
	// OnDenied is told of every denied operation (metrics); may be nil.
	OnDenied func(op kmsg.ACLOperation, rt kmsg.ACLResourceType)
	// PeerOpts log this broker in to the other brokers' inter-broker
	// listener (transaction markers, verification).
	PeerOpts []kgo.Opt
}

type security struct {
	opts SecurityOptions

	mu     sync.Mutex // serialises rebuilds
	authz  atomic.Pointer[authzCache]
	quotas atomic.Pointer[quotaCache]
}

// authzCache is an authorizer and the ACL slice it was built from.
type authzCache struct {
	acls []metadata.ACL
	az   *acl.Authorizer
}

type quotaCache struct{ entries []metadata.QuotaEntry }

// SetSecurity installs the authorizer and quota settings.
func (a *API) SetSecurity(o SecurityOptions) {
	a.sec = &security{opts: o}
	if a.peers != nil {
		a.peers.opts = o.PeerOpts
	}
	a.syncQuotas()
}

// Authorizer returns the current authorizer, or nil when ACLs are not
// enforced (internal/web shows a principal only what it may describe).
func (a *API) Authorizer() *acl.Authorizer { return a.authorizer() }

// authorizer returns the authorizer for the current ACLs (nil when
// authorization is off).
func (a *API) authorizer() *acl.Authorizer {
	s := a.sec
	if !s.opts.Authorizer {
		return nil
	}
	acls := a.b.MetadataState().Security.ACLs
	if c := s.authz.Load(); c != nil && sameACLs(c.acls, acls) {
		return c.az
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.authz.Load(); c != nil && sameACLs(c.acls, acls) {
		return c.az
	}
	if c := s.authz.Load(); c != nil && slices.Equal(c.acls, acls) {
		// Another metadata change cloned the slice; same ACLs.
		s.authz.Store(&authzCache{acls: acls, az: c.az})
		return c.az
	}
	bs := make([]acl.Binding, 0, len(acls))
	for _, m := range acls {
		bs = append(bs, bindingOf(m))
	}
	az := acl.New(acl.Config{SuperUsers: s.opts.SuperUsers, AllowEveryoneIfNoACLFound: s.opts.AllowEveryoneIfNoACLFound}, bs)
	s.authz.Store(&authzCache{acls: acls, az: az})
	return az
}

// sameACLs: the same backing array and length, hence the same ACLs
// (metadata states are never mutated in place).
func sameACLs(x, y []metadata.ACL) bool {
	return len(x) == len(y) && (len(x) == 0 || unsafe.SliceData(x) == unsafe.SliceData(y))
}

func bindingOf(m metadata.ACL) acl.Binding {
	return acl.Binding{
		ResourceType: kmsg.ACLResourceType(m.ResourceType), ResourceName: m.ResourceName,
		PatternType: kmsg.ACLResourcePatternType(m.PatternType), Principal: m.Principal, Host: m.Host,
		Operation: kmsg.ACLOperation(m.Operation), Permission: kmsg.ACLPermissionType(m.Permission),
	}
}

func aclOf(b acl.Binding) metadata.ACL {
	return metadata.ACL{
		ResourceType: int8(b.ResourceType), ResourceName: b.ResourceName, PatternType: int8(b.PatternType),
		Principal: b.Principal, Host: b.Host, Operation: int8(b.Operation), Permission: int8(b.Permission),
	}
}

// principalOf returns c's principal; internal calls (c nil) act as the
// broker itself.
func principalOf(c *server.Conn) (principal, host string) {
	if c == nil {
		return "", ""
	}
	return c.Principal(), c.IP
}

// authorized reports whether c may do op on the resource. Internal calls
// (c nil) and brokers without an authorizer are allowed everything.
func (a *API) authorized(c *server.Conn, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if c == nil {
		return true
	}
	az := a.authorizer()
	if az == nil {
		return true
	}
	p, h := principalOf(c)
	if az.Authorize(p, h, op, rt, name) {
		return true
	}
	if f := a.sec.opts.OnDenied; f != nil {
		f(op, rt)
	}
	return false
}

// authorizedQuiet is authorized without counting a denial: for filtering
// (Metadata hides topics; ListGroups lists what may be described).
func (a *API) authorizedQuiet(c *server.Conn, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if c == nil {
		return true
	}
	az := a.authorizer()
	if az == nil {
		return true
	}
	p, h := principalOf(c)
	return az.Authorize(p, h, op, rt, name)
}

// authorizedAny reports whether c may do op on some resource of type rt
// (KIP-679's authorizeByResourceType: idempotent producers, CreateTopics).
func (a *API) authorizedAny(c *server.Conn, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	if c == nil {
		return true
	}
	az := a.authorizer()
	if az == nil {
		return true
	}
	p, h := principalOf(c)
	return az.AuthorizeByResourceType(p, h, op, rt)
}

// authorizedCluster is authorized on the cluster resource.
func (a *API) authorizedCluster(c *server.Conn, op kmsg.ACLOperation) bool {
	return a.authorized(c, op, kmsg.ACLResourceTypeCluster, clusterResourceName)
}

// clusterResourceName is the name of Kafka's one cluster resource.
const clusterResourceName = "kafka-cluster"

// authorizedOps returns the authorized-operations bitfield of a resource
// for c (Metadata, DescribeGroups, DescribeCluster). Without an
// authorizer every operation that applies to the type is allowed.
func (a *API) authorizedOps(c *server.Conn, rt kmsg.ACLResourceType, name string) int32 {
	az := a.authorizer()
	if az == nil || c == nil {
		var bits int32
		for _, op := range acl.SupportedOperations(rt) {
			bits |= 1 << op
		}
		return bits
	}
	p, h := principalOf(c)
	return az.AuthorizedOperations(p, h, rt, name)
}

// quotasActive reports whether any client quota is configured (after
// giving the manager the current ones): without one, requests are not
// measured at all.
func (a *API) quotasActive() bool {
	if a.sec.opts.Quotas == nil {
		return false
	}
	a.syncQuotas()
	c := a.sec.quotas.Load()
	return c != nil && len(c.entries) > 0
}

// syncQuotas gives the quota manager the metadata's quotas when they
// changed since the last call.
func (a *API) syncQuotas() {
	s := a.sec
	if s.opts.Quotas == nil {
		return
	}
	entries := a.b.MetadataState().Security.Quotas
	if c := s.quotas.Load(); c != nil && len(c.entries) == len(entries) &&
		(len(entries) == 0 || unsafe.SliceData(c.entries) == unsafe.SliceData(entries)) {
		return
	}
	all := make(map[quota.Entity]quota.Values, len(entries))
	for _, e := range entries {
		all[quotaEntityOf(e.Entity)] = quota.Values(e.Values)
	}
	s.opts.Quotas.SetAll(all)
	s.quotas.Store(&quotaCache{entries: entries})
}

func quotaEntityOf(e metadata.QuotaEntity) quota.Entity {
	return quota.Entity{User: e.User, HasUser: e.HasUser, DefaultUser: e.DefaultUser,
		ClientID: e.ClientID, HasClient: e.HasClientID, DefaultClient: e.DefaultClient,
		IP: e.IP, HasIP: e.HasIP, DefaultIP: e.DefaultIP}
}

func metadataQuotaEntity(e quota.Entity) metadata.QuotaEntity {
	return metadata.QuotaEntity{User: e.User, HasUser: e.HasUser, DefaultUser: e.DefaultUser,
		ClientID: e.ClientID, HasClientID: e.HasClient, DefaultClient: e.DefaultClient,
		IP: e.IP, HasIP: e.HasIP, DefaultIP: e.DefaultIP}
}

// quotaUser is the user name quotas are keyed by: the principal's name
// without its type ("ANONYMOUS" for unauthenticated clients).
func quotaUser(c *server.Conn) string {
	p := c.Principal()
	if i := strings.IndexByte(p, ':'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// applyQuotas charges a request to its client's quotas (KIP-13, KIP-124)
// and sets the throttle time of the response: produce bytes (the request's
// size) and handler time in phase one, fetch bytes (the records returned)
// when the response is built. A client over a quota is still answered;
// its connection is then muted for the throttle time (KIP-219), which is
// what holds it to its rate. Replica fetches are not charged (Kafka
// bounds replication with separate quotas).
//
// Unlike Kafka, an over-quota fetch still carries its records (Kafka
// sends an empty response and forgets the bytes): with incremental fetch
// sessions, dropping records the session believes sent is not safe here,
// and muting alone enforces the same rate.
func (a *API) applyQuotas(c *server.Conn, h wire.RequestHeader, req kmsg.Request, size int, took time.Duration, p server.Pending) server.Pending {
	q := a.sec.opts.Quotas
	user := quotaUser(c)
	var d time.Duration
	if h.APIKey == int16(kmsg.Produce) {
		d = max(d, q.Record(quota.Produce, user, h.ClientID, float64(size)))
	}
	d = max(d, q.Record(quota.Request, user, h.ClientID, float64(took)))
	fetch, isFetch := req.(*kmsg.FetchRequest)
	if isFetch && fetch.ReplicaID >= 0 {
		isFetch = false
	}
	if d <= 0 && !isFetch {
		return p
	}
	if d > 0 {
		c.Throttle(h.APIKey, d)
	}
	return func() kmsg.Response {
		resp := p()
		if resp == nil {
			return nil
		}
		dd := d
		// A spliced fetch's records are its regions (its RecordBatches
		// are placeholders); a plain one's are its RecordBatches.
		inner, spliced := resp, (*server.Spliced)(nil)
		if sr, ok := resp.(*server.Spliced); ok {
			inner, spliced = sr.Response, sr
		}
		if fr, ok := inner.(*kmsg.FetchResponse); ok && isFetch {
			n := 0
			if spliced != nil {
				n = spliced.Bytes()
			} else {
				for i := range fr.Topics {
					for j := range fr.Topics[i].Partitions {
						n += len(fr.Topics[i].Partitions[j].RecordBatches)
					}
				}
			}
			if n > 0 {
				if fd := q.Record(quota.Fetch, user, h.ClientID, float64(n)); fd > 0 {
					c.Throttle(h.APIKey, fd)
					dd = max(dd, fd)
				}
			}
		}
		if dd > 0 {
			if tr, ok := inner.(kmsg.ThrottleResponse); ok {
				ms := int32(min(dd/time.Millisecond, 1<<31-1))
				if cur, _ := tr.Throttle(); ms > cur {
					if st, ok := inner.(kmsg.SetThrottleResponse); ok {
						st.SetThrottle(ms)
					}
				}
			}
		}
		return resp
	}
}
