// Package api answers Kafka requests: one file per API family, declared
// once in the table below. Bodies are franz-go's kmsg types; the server
// package owns framing and headers.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/server"
	"github.com/samsa-io/samsa/internal/txn"
	"github.com/samsa-io/samsa/internal/wire"
)

// handlerFunc answers one decoded request. It runs phase one (on the
// connection's reader goroutine) and returns the Pending that yields the
// response in phase two.
type handlerFunc func(ctx context.Context, c *server.Conn, req kmsg.Request) (server.Pending, error)

// entry declares one API: the versions we accept and its handler.
type entry struct {
	key      kmsg.Key
	min, max int16
	fn       handlerFunc
}

// API dispatches requests to handlers. It implements server.Handler.
type API struct {
	b   *broker.Broker
	lg  *slog.Logger
	now func() time.Time
	// advertised returns the host and port clients should connect to on
	// the primary listener; listenerAddrs the same for the others, by
	// name (SetListeners).
	advertised    func() (string, int32)
	primaryName   string
	listenerAddrs map[string]func() (string, int32)
	sec           *security // authorizer, SCRAM, quotas (security.go); never nil

	table map[int16]entry // immutable after New

	sessions *sessionCache // incremental fetch sessions (KIP-227)

	pidMu          sync.Mutex
	pidNext, pidHi int64 // producer ids handed out from the reserved block [pidNext, pidHi); guarded by pidMu

	groups *group.Coordinator // the consumer group coordinator; set by groupEntries
	txns   *txn.Coordinator   // the transaction coordinator; set by txnEntries
	peers  *peerClients       // clients to the other brokers (transaction markers)
}

// New returns the dispatcher for broker b.
func New(b *broker.Broker, lg *slog.Logger, advertised func() (string, int32)) *API {
	a := &API{b: b, lg: lg, now: time.Now, advertised: advertised, sec: &security{},
		sessions: newSessionCache(defaultSessionSlots, defaultSessionEvictAfter, defaultSessionExpireAfter)}
	a.table = make(map[int16]entry)
	// The supported range of every API is declared in supportedVersions.
	for _, e := range []entry{
		{key: kmsg.ApiVersions, fn: a.handleApiVersions},
		{key: kmsg.Metadata, fn: a.handleMetadata},
		{key: kmsg.Produce, fn: a.handleProduce},
		{key: kmsg.Fetch, fn: a.handleFetch},
		{key: kmsg.ListOffsets, fn: a.handleListOffsets},
		{key: kmsg.InitProducerID, fn: a.handleInitProducerID},
		{key: kmsg.OffsetForLeaderEpoch, fn: a.handleOffsetForLeaderEpoch},
	} {
		a.register(e)
	}
	for _, e := range a.adminEntries() {
		a.register(e)
	}
	for _, e := range a.groupEntries() {
		a.register(e)
	}
	for _, e := range a.aclEntries() {
		a.register(e)
	}
	for _, e := range a.consumerGroupEntries() {
		a.register(e)
	}
	for _, e := range a.replicationEntries() {
		a.register(e)
	}
	for _, e := range a.txnEntries() {
		a.register(e)
	}
	for _, e := range a.txnOffsetEntries() {
		a.register(e)
	}
	return a
}

// Groups returns the consumer group coordinator, for read-only views
// (internal/web: the console and group lag metrics).
func (a *API) Groups() *group.Coordinator { return a.groups }

// register adds e with its declared version range (supportedVersions). An
// API without one is a programming error, caught by every test that starts
// a broker.
func (a *API) register(e entry) {
	v, ok := supportedVersions[e.key]
	if !ok {
		panic(fmt.Sprintf("api: %s has a handler but no declared version range in supportedVersions", kmsg.NameForKey(int16(e.key))))
	}
	e.min, e.max = v.min, v.max
	a.table[int16(e.key)] = e
}

// Handle implements server.Handler.
func (a *API) Handle(ctx context.Context, c *server.Conn, h wire.RequestHeader, body []byte) (server.Pending, error) {
	e, ok := a.table[h.APIKey]
	if !ok {
		// Kafka closes the connection on an API it does not serve; there is
		// no response format to answer in.
		return nil, fmt.Errorf("%w: unsupported api key %d (%s)", server.ErrCloseConnection, h.APIKey, kmsg.NameForKey(h.APIKey))
	}
	if h.APIVersion < e.min || h.APIVersion > e.max {
		if e.key == kmsg.ApiVersions {
			// KIP-511: answer an unknown ApiVersions version at v0 with
			// UNSUPPORTED_VERSION and our ranges, so the client can retry
			// with a version we know.
			resp := a.apiVersionsResponse(0)
			resp.ErrorCode = kerr.UnsupportedVersion.Code
			return server.Ready(resp), nil
		}
		return nil, fmt.Errorf("%w: %s v%d is not supported (we support v%d-v%d)",
			server.ErrCloseConnection, kmsg.NameForKey(h.APIKey), h.APIVersion, e.min, e.max)
	}
	req := kmsg.RequestForKey(h.APIKey)
	req.SetVersion(h.APIVersion)
	if err := req.ReadFrom(body); err != nil {
		if e.key == kmsg.ApiVersions {
			// A newer client's ApiVersions body may carry fields we cannot
			// parse; the header was fine, so answer with our versions.
			resp := a.apiVersionsResponse(h.APIVersion)
			resp.ErrorCode = kerr.InvalidRequest.Code
			return server.Ready(resp), nil
		}
		return nil, fmt.Errorf("%w: malformed %s v%d body: %v", server.ErrCloseConnection, kmsg.NameForKey(h.APIKey), h.APIVersion, err)
	}
	if c == nil || !a.quotasActive() {
		return e.fn(withClientID(ctx, h.ClientID), c, req)
	}
	start := time.Now()
	p, err := e.fn(withClientID(ctx, h.ClientID), c, req)
	if err != nil {
		return p, err
	}
	return a.applyQuotas(c, h, req, len(body), time.Since(start), p), nil
}

type clientIDKey struct{}

// withClientID carries the request header's client id to handlers that
// record it (group members' ids and descriptions).
func withClientID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, clientIDKey{}, id)
}

// clientIDFrom returns the request's client id, or "".
func clientIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(clientIDKey{}).(string)
	return id
}

// advertisedFrom returns a func giving the host/port to advertise: adv
// when set ("host:port"), else the bound listener address (so a broker on
// port 0 advertises the port it got).
func AdvertisedFrom(adv string, bound net.Addr) func() (string, int32) {
	host, port := "", int32(0)
	if adv != "" {
		if h, p, err := net.SplitHostPort(adv); err == nil {
			n, _ := strconv.Atoi(p)
			host, port = h, int32(n)
		}
	}
	if bound != nil {
		if h, p, err := net.SplitHostPort(bound.String()); err == nil {
			n, _ := strconv.Atoi(p)
			if host == "" {
				host = h
			}
			if port == 0 {
				port = int32(n)
			}
		}
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return func() (string, int32) { return host, port }
}
