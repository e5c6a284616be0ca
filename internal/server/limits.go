package server

import (
	"net"
	"time"
)

// admit applies the connection limits to a new connection from ip:
// max.connections over all listeners, max.connections.per.ip (with its
// overrides) and the creation-rate hook (KIP-612). A refused connection is
// closed at once: it holds no goroutine and no buffer. wait > 0 asks the
// accept loop to pause (the broker-wide creation rate).
func (s *Server) admit(ip string, l *Listener) (ok bool, wait time.Duration) {
	refuse := func(reason string) (bool, time.Duration) {
		s.refusedLog(reason, ip, l.Name)
		if so, is := s.cfg.Observer.(SecurityObserver); is {
			so.ConnectionRefused(reason)
		}
		return false, wait
	}
	if f := s.cfg.ConnectionAllowed; f != nil {
		var allowed bool
		allowed, wait = f(ip)
		if !allowed {
			return refuse("connection creation rate")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.cfg.MaxConnections; m > 0 && len(s.conns) >= m {
		return refuse("max.connections")
	}
	limit := s.cfg.MaxConnectionsPerIP
	if n, ok := s.cfg.PerIPOverrides[ip]; ok {
		limit = n
	}
	if limit > 0 && s.perIP[ip] >= limit {
		return refuse("max.connections.per.ip")
	}
	s.perIP[ip]++
	return true, wait
}

// release forgets one connection of ip. Caller holds s.mu.
func (s *Server) release(ip string) {
	if n := s.perIP[ip]; n > 1 {
		s.perIP[ip] = n - 1
	} else {
		delete(s.perIP, ip)
	}
}

// refusedLog logs refused connections at most once a second, so a flood of
// them cannot flood the log too.
func (s *Server) refusedLog(reason, ip, listener string) {
	now := time.Now().UnixNano()
	last := s.lastRefusedLog.Load()
	if now-last < int64(time.Second) || !s.lastRefusedLog.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn("refusing connections: over "+reason+" (further refusals are logged at most once a second)", "client", ip, "listener", listener)
}

func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}
