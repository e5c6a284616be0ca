package web

// Console login. When the broker requires authentication (an authorizer,
// or SASL listeners), the console asks for a user and password checked
// against the same users as Kafka clients (PLAIN users of the listeners'
// JAAS entries, SCRAM credentials of the metadata) and shows only what
// that principal may DESCRIBE; the message browser needs READ. /metrics,
// /healthz and /readyz stay open: they are on the HTTP listener, local by
// default, for scrapers and probes.

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Auth configures the console login. A nil *Auth (or Required false)
// serves the console to anyone who reaches the HTTP listener.
type Auth struct {
	Required bool
	// Check verifies a user's password; it returns the principal
	// ("User:alice") when it is right.
	Check func(user, password string) (principal string, ok bool)
	// Authorize answers whether principal may do op on a resource; nil
	// allows everything (no authorizer).
	Authorize func(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool
	// FailedDelay delays the answer to a wrong password.
	FailedDelay time.Duration
}

const (
	sessionCookie = "samsa_session"
	sessionTTL    = 8 * time.Hour
	maxSessions   = 10000
)

type session struct {
	principal string
	expires   time.Time
}

type sessions struct {
	mu sync.Mutex
	m  map[string]session // guarded by mu
}

func (ss *sessions) create(principal string) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.m == nil {
		ss.m = map[string]session{}
	}
	now := time.Now()
	if len(ss.m) >= maxSessions { // bounded memory: drop the expired, then the oldest
		var oldest string
		for k, s := range ss.m {
			if now.After(s.expires) {
				delete(ss.m, k)
			} else if oldest == "" || s.expires.Before(ss.m[oldest].expires) {
				oldest = k
			}
		}
		if len(ss.m) >= maxSessions {
			delete(ss.m, oldest)
		}
	}
	ss.m[tok] = session{principal: principal, expires: now.Add(sessionTTL)}
	return tok
}

func (ss *sessions) lookup(tok string) (string, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, s := range ss.m {
		// Constant-time compare of the token itself.
		if subtle.ConstantTimeCompare([]byte(k), []byte(tok)) == 1 {
			if time.Now().After(s.expires) {
				delete(ss.m, k)
				return "", false
			}
			return s.principal, true
		}
	}
	return "", false
}

func (ss *sessions) drop(tok string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, tok)
}

type principalKey struct{}

// principal returns the logged-in principal of r ("" without login).
func principalOf(r *http.Request) string {
	p, _ := r.Context().Value(principalKey{}).(string)
	return p
}

// may reports whether the request's principal may do op on a resource.
func (s *Server) may(r *http.Request, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	a := s.cfg.Auth
	if a == nil || !a.Required || a.Authorize == nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return a.Authorize(principalOf(r), host, op, rt, name)
}

// requireLogin wraps a console page: without a valid session it redirects
// to /login.
func (s *Server) requireLogin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := s.cfg.Auth
		if a == nil || !a.Required {
			h(w, r)
			return
		}
		c, err := r.Cookie(sessionCookie)
		if err == nil {
			if p, ok := s.sessions.lookup(c.Value); ok {
				h(w, r.WithContext(contextWith(r, p)))
				return
			}
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	}
}

type loginPage struct {
	Error string
	User  string
}

func (s *Server) handleLoginForm(w http.ResponseWriter, _ *http.Request) {
	s.render(w, http.StatusOK, "login.html", loginPage{})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	a := s.cfg.Auth
	if a == nil || !a.Required {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		s.render(w, http.StatusBadRequest, "login.html", loginPage{Error: "The form could not be read."})
		return
	}
	user, pw := r.PostForm.Get("user"), r.PostForm.Get("password")
	p, ok := a.Check(user, pw)
	if !ok {
		s.lg.Info("console login failed", "user", user, "client", r.RemoteAddr)
		if s.metrics != nil {
			s.metrics.consoleLoginFailed()
		}
		time.Sleep(a.FailedDelay)
		s.render(w, http.StatusUnauthorized, "login.html", loginPage{Error: "Wrong user name or password.", User: user})
		return
	}
	tok := s.sessions.create(p)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(sessionTTL / time.Second)})
	s.lg.Info("console login", "principal", p, "client", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.drop(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func contextWith(r *http.Request, principal string) context.Context {
	return context.WithValue(r.Context(), principalKey{}, principal)
}
