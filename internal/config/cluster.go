package config

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The cluster settings are Kafka's KRaft keys (see Broker's fields):
//
//	process.roles                 "" (unset) = one self-contained broker, samsa's quick start;
//	                              broker, controller, or broker,controller (combined mode)
//	controller.quorum.voters      id@host:port,... the static Raft quorum, as this node reaches it
//	controller.listener.names     the listener names (in listeners) that controllers listen on
//	inter.broker.listener.name    the listener brokers replicate over, default PLAINTEXT
//	broker.rack                   the rack, for rack-aware replica placement
//	broker.session.timeout.ms     samsa default 1500 (Kafka 9000): how long the active controller
//	                              waits for a heartbeat before it fences a broker and moves leadership
//	broker.heartbeat.interval.ms  samsa default 250 (Kafka 2000)
//
// samsa's shorter session and heartbeat defaults give failover in about two
// seconds (a controller election of ~0.5 s plus the session timeout); they
// suit a LAN, where a heartbeat every 250 ms costs nothing.

// Voter is one member of the static controller quorum.
type Voter struct {
	ID   int32
	Addr string // host:port, as this node reaches it
}

// Clustered reports whether controller.quorum.voters is set: this node is
// part of a Raft-governed cluster rather than the self-contained single
// broker. Kafka's stock server.properties (process.roles=broker,controller
// with a one-node controller.quorum.bootstrap.servers and no voters) runs as
// the self-contained broker: it is the same one-node cluster, without the
// format step Kafka needs for it.
func (b Broker) Clustered() bool { return b.QuorumVoters != "" }

// HasRole reports whether process.roles names role ("broker" or
// "controller"). A single broker (no process.roles) has both.
func (b Broker) HasRole(role string) bool {
	if !b.Clustered() {
		return true
	}
	return slices.Contains(strings.Split(b.ProcessRoles, ","), role)
}

// Voters parses controller.quorum.voters.
func (b Broker) Voters() ([]Voter, error) { return parseVoters(b.QuorumVoters) }

func parseVoters(v string) ([]Voter, error) {
	var out []Voter
	seen := map[int32]bool{}
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		ids, addr, ok := strings.Cut(e, "@")
		if !ok {
			return nil, fmt.Errorf("%q is not id@host:port", e)
		}
		id, err := strconv.ParseInt(strings.TrimSpace(ids), 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("%q: the id must be a number from 0", e)
		}
		host, port, err := net.SplitHostPort(strings.TrimSpace(addr))
		if err != nil || host == "" {
			return nil, fmt.Errorf("%q: the address is not host:port", e)
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return nil, fmt.Errorf("%q: the port must be a number from 1 to 65535", e)
		}
		if seen[int32(id)] {
			return nil, fmt.Errorf("voter %d is listed twice", id)
		}
		seen[int32(id)] = true
		out = append(out, Voter{ID: int32(id), Addr: net.JoinHostPort(host, port)})
	}
	return out, nil
}

func parseRoles(name, v string) (string, error) {
	var roles []string
	for _, r := range strings.Split(v, ",") {
		r = strings.ToLower(strings.TrimSpace(r))
		switch r {
		case "":
			continue
		case "broker", "controller":
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		default:
			return "", invalid(name, v, "has %q; the roles are broker and controller", r)
		}
	}
	slices.Sort(roles)
	return strings.Join(roles, ","), nil
}

// validateCluster checks the cluster settings as a whole (part of Validate).
func (b Broker) validateCluster() []error {
	if !b.Clustered() {
		if b.ProcessRoles != "" && b.ProcessRoles != "broker,controller" {
			return []error{invalid("controller.quorum.voters", "", "must list the controller quorum (id@host:port,...) for process.roles=%s", b.ProcessRoles)}
		}
		return nil
	}
	if b.ProcessRoles == "" {
		return []error{invalid("process.roles", "", "must be set (broker, controller or broker,controller) when controller.quorum.voters is")}
	}
	var errs []error
	voters, err := b.Voters()
	switch {
	case err != nil:
		errs = append(errs, invalid("controller.quorum.voters", b.QuorumVoters, "%v", err))
	case len(voters) == 0:
		errs = append(errs, invalid("controller.quorum.voters", b.QuorumVoters, "lists no voter"))
	}
	isVoter := slices.ContainsFunc(voters, func(v Voter) bool { return v.ID == b.NodeID })
	if b.HasRole("controller") {
		if !isVoter && err == nil {
			errs = append(errs, invalid("controller.quorum.voters", b.QuorumVoters, "does not list this node (node.id=%d), but process.roles includes controller", b.NodeID))
		}
		if b.ControllerListener == "" {
			errs = append(errs, invalid("controller.listener.names", b.ControllerListenerNames, "must name a listener in listeners for this controller to listen on"))
		}
	} else if isVoter {
		errs = append(errs, invalid("process.roles", b.ProcessRoles, "lacks controller, but controller.quorum.voters lists this node (node.id=%d)", b.NodeID))
	}
	if b.HasRole("broker") && b.noClientListener {
		errs = append(errs, invalid("listeners", b.static["listeners"], "has no listener for clients (only controller listeners), but process.roles includes broker"))
	}
	if b.InterBrokerListenerName != "" && !b.noClientListener && !strings.EqualFold(b.InterBrokerListenerName, b.ListenerName) {
		errs = append(errs, invalid("inter.broker.listener.name", b.InterBrokerListenerName, "names no client listener in listeners (the first is %s)", b.ListenerName))
	}
	if b.BrokerHeartbeatInterval <= 0 || b.BrokerSessionTimeout < 2*b.BrokerHeartbeatInterval {
		errs = append(errs, invalid("broker.session.timeout.ms", formatMS(b.BrokerSessionTimeout),
			"must be at least twice broker.heartbeat.interval.ms (%s)", formatMS(b.BrokerHeartbeatInterval)))
	}
	return errs
}

// defaultSessionTimeout and defaultHeartbeatInterval: see the package
// comment above (about two seconds of failover).
const (
	defaultSessionTimeout    = 1500 * time.Millisecond
	defaultHeartbeatInterval = 250 * time.Millisecond
)
