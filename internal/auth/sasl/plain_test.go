package sasl

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var plainUsers = PlainUsers{"admin": "admin-secret", "alice": "alice-secret", "zoë": "pässwörd"}

func TestPlain(t *testing.T) {
	tests := []struct {
		name    string
		token   []byte
		want    error  // nil: success
		wantErr string // substring of the error, if want != nil
		user    string
	}{
		{"ok", PlainToken("alice", "alice-secret"), nil, "", "alice"},
		{"ok non-ascii", PlainToken("zoë", "pässwörd"), nil, "", "zoë"},
		{"ok authzid equal", []byte("admin\x00admin\x00admin-secret"), nil, "", "admin"},
		{"wrong password", PlainToken("alice", "admin-secret"), ErrAuthenticationFailed, "invalid", ""},
		{"password prefix", PlainToken("alice", "alice-secre"), ErrAuthenticationFailed, "invalid", ""},
		{"unknown user", PlainToken("mallory", "alice-secret"), ErrAuthenticationFailed, "invalid", ""},
		{"authzid differs", []byte("admin\x00alice\x00alice-secret"), ErrAuthenticationFailed, "authorization id", ""},
		{"no NUL", []byte("alice"), ErrMalformed, "no NUL", ""},
		{"one NUL", []byte("alice\x00alice-secret"), ErrMalformed, "one NUL", ""},
		{"three NULs", []byte("\x00alice\x00alice-secret\x00"), ErrMalformed, "more than two", ""},
		{"empty user", []byte("\x00\x00alice-secret"), ErrMalformed, "username is empty", ""},
		{"empty password", []byte("\x00alice\x00"), ErrMalformed, "password is empty", ""},
		{"empty token", nil, ErrMalformed, "no NUL", ""},
		{"not utf-8", []byte("\x00alice\x00\xff"), ErrMalformed, "UTF-8", ""},
		{"oversized", append(PlainToken("alice", "alice-secret"), bytes.Repeat([]byte("x"), MaxTokenSize)...), ErrMalformed, "exceeds", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewPlain(plainUsers)
			reply, done, err := s.Step(tt.token)
			if tt.want == nil {
				if err != nil || !done || len(reply) != 0 || s.Username() != tt.user {
					t.Fatalf("Step = %q, %v, %v; Username %q", reply, done, err, s.Username())
				}
			} else {
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantErr) || done || s.Username() != "" {
					t.Fatalf("Step = %q, %v, %v; want %v containing %q", reply, done, err, tt.want, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("error leaks the password: %v", err)
				}
			}
			// The exchange is over either way.
			if _, _, err := s.Step(tt.token); !errors.Is(err, ErrIllegalState) {
				t.Fatalf("second Step: %v, want ErrIllegalState", err)
			}
		})
	}
}

func TestPlainToken(t *testing.T) {
	if got := string(PlainToken("u", "p")); got != "\x00u\x00p" {
		t.Fatalf("PlainToken = %q", got)
	}
}

func TestMechanismsAndClientMessage(t *testing.T) {
	m := Mechanisms()
	if len(m) != 3 || m[0] != Plain || m[1] != ScramSHA256 || m[2] != ScramSHA512 {
		t.Fatalf("Mechanisms = %v", m)
	}
	m[0] = "x"
	if Mechanisms()[0] != Plain {
		t.Fatal("Mechanisms shares its slice")
	}
	_, _, wrong := NewPlain(plainUsers).Step(PlainToken("alice", "x"))
	_, _, unknown := NewPlain(plainUsers).Step(PlainToken("nobody", "x"))
	if ClientMessage(wrong) != ClientMessage(unknown) {
		t.Fatal("ClientMessage tells an unknown user from a wrong password")
	}
	if ClientMessage(nil) != "" || ClientMessage(ErrIllegalState) == ClientMessage(wrong) {
		t.Fatal("ClientMessage does not distinguish success / illegal state")
	}
}

func FuzzPlain(f *testing.F) {
	f.Add(PlainToken("alice", "alice-secret"))
	f.Add([]byte("admin\x00admin\x00admin-secret"))
	f.Add([]byte("admin\x00alice\x00alice-secret"))
	f.Add([]byte("\x00\x00"))
	f.Fuzz(func(t *testing.T, token []byte) {
		s := NewPlain(plainUsers)
		reply, done, err := s.Step(token)
		if err != nil {
			if done || reply != nil || s.Username() != "" {
				t.Fatalf("failed Step returned done=%v reply=%q user=%q", done, reply, s.Username())
			}
			if !errors.Is(err, ErrAuthenticationFailed) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error class: %v", err)
			}
		} else {
			// Success only with a listed user's exact password.
			parts := bytes.Split(token, []byte{0})
			if !done || len(parts) != 3 || plainUsers[s.Username()] != string(parts[2]) || string(parts[1]) != s.Username() {
				t.Fatalf("accepted %q as %q", token, s.Username())
			}
		}
		if _, _, err := s.Step(token); !errors.Is(err, ErrIllegalState) {
			t.Fatalf("second Step: %v", err)
		}
	})
}
