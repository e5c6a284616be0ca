package api

import (
	"net"
	"strconv"
	"strings"

	"github.com/samsa-io/samsa/internal/server"
)

// SetListeners names the primary listener and gives, by name, what each
// further client listener advertises. Metadata, FindCoordinator and
// KIP-951 endpoints answer a client with the addresses of the listener it
// came in on, as Kafka does.
func (a *API) SetListeners(primary string, others map[string]func() (string, int32)) {
	a.primaryName, a.listenerAddrs = strings.ToUpper(primary), others
}

// listenerOf returns the name of c's listener ("" = the primary).
func listenerOf(c *server.Conn) string {
	if c == nil || c.Listener == nil {
		return ""
	}
	return c.Listener.Name
}

// advertisedOn returns what this broker advertises on listener.
func (a *API) advertisedOn(listener string) (string, int32) {
	if f, ok := a.listenerAddrs[listener]; ok && listener != a.primaryName {
		return f()
	}
	return a.advertised()
}

// registeredEndpoint returns a registered broker's endpoint on listener:
// its primary address, or the one it registered for that listener; ok is
// false when it has no such listener (Kafka leaves such brokers out).
func (a *API) registeredEndpoint(listener, host string, port int32, others map[string]string) (string, int32, bool) {
	if listener == "" || strings.EqualFold(listener, a.primaryName) || len(a.listenerAddrs) == 0 {
		return host, port, true
	}
	hp, ok := others[listener]
	if !ok {
		return "", 0, false
	}
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, false
	}
	n, _ := strconv.Atoi(p)
	return h, int32(n), true
}
