package api

// DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554).
//
// The client sends a salted password (Hi(password, salt, iterations),
// computed on its side), never the password; the broker derives and
// stores RFC 5802's StoredKey and ServerKey from it and forgets the salted
// password. Describing needs DESCRIBE on the cluster, altering ALTER.
// Kafka serves these with or without an authorizer; so does samsa.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/server"
)

// Kafka's SCRAM mechanism codes in these APIs, and its iteration bounds.
var scramMechanisms = map[int8]string{1: "SCRAM-SHA-256", 2: "SCRAM-SHA-512"}

const (
	scramMinIterations = 4096
	scramMaxIterations = 16384
)

func scramCode(name string) int8 {
	for c, n := range scramMechanisms {
		if n == name {
			return c
		}
	}
	return 0
}

// scramKeys derives StoredKey and ServerKey from a salted password.
func scramKeys(mechanism string, salted []byte) (stored, server []byte) {
	var h func() hash.Hash = sha256.New
	if mechanism == "SCRAM-SHA-512" {
		h = sha512.New
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	d := h()
	d.Write(clientKey)
	return d.Sum(nil), mac(salted, "Server Key")
}

func (a *API) handleDescribeUserSCRAMCredentials(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !a.authorizedCluster(c, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr("describing SCRAM credentials needs DESCRIBE on the cluster")
		return server.Ready(resp), nil
	}
	users := a.b.MetadataState().Security.Scram
	// As Kafka: a null or empty user list describes every user; a user
	// named twice gets one DUPLICATE_RESOURCE result, not one per mention.
	var names []string
	count := map[string]int{}
	if len(req.Users) == 0 {
		for u := range users {
			names = append(names, u)
		}
		slices.Sort(names)
	} else {
		for _, u := range req.Users {
			if count[u.Name]++; count[u.Name] == 1 {
				names = append(names, u.Name)
			}
		}
	}
	for _, n := range names {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = n
		creds, ok := users[n]
		switch {
		case count[n] > 1:
			r.ErrorCode, r.ErrorMessage = kerr.DuplicateResource.Code, kmsg.StringPtr("cannot describe the same user twice in one request")
		case n == "":
			r.ErrorCode, r.ErrorMessage = kerr.ResourceNotFound.Code, kmsg.StringPtr("empty user name")
		case !ok:
			r.ErrorCode, r.ErrorMessage = kerr.ResourceNotFound.Code, kmsg.StringPtr("attempt to describe a user credential that does not exist")
		default:
			mechs := make([]string, 0, len(creds))
			for m := range creds {
				mechs = append(mechs, m)
			}
			slices.Sort(mechs)
			for _, m := range mechs {
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism, ci.Iterations = scramCode(m), int32(creds[m].Iterations)
				r.CredentialInfos = append(r.CredentialInfos, ci)
			}
		}
		resp.Results = append(resp.Results, r)
	}
	return server.Ready(resp), nil
}

func (a *API) handleAlterUserSCRAMCredentials(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	allowed := a.authorizedCluster(c, kmsg.ACLOperationAlter)
	state := a.b.MetadataState().Security.Scram
	// One result per user. A user may have several changes (one per
	// mechanism); the same user and mechanism twice is DUPLICATE_RESOURCE,
	// as in Kafka's controller.
	type change struct {
		recs []metadata.Record
		err  *kerr.Error
		msg  string
	}
	var order []string
	byUser := map[string]*change{}
	seen := map[[2]string]bool{}
	mention := func(user string, mechCode int8) (*change, string, bool) {
		ch, ok := byUser[user]
		if !ok {
			ch = &change{}
			byUser[user] = ch
			order = append(order, user)
		}
		fail := func(code *kerr.Error, msg string) {
			if ch.err == nil {
				ch.err, ch.msg = code, msg
			}
		}
		mech, known := scramMechanisms[mechCode]
		switch {
		case user == "":
			fail(kerr.UnacceptableCredential, "empty user name")
		case !known:
			fail(kerr.UnsupportedSaslMechanism, "unknown SCRAM mechanism")
		case seen[[2]string{user, mech}]:
			fail(kerr.DuplicateResource, "the same user and mechanism appear twice in the request")
		default:
			seen[[2]string{user, mech}] = true
			return ch, mech, true
		}
		return ch, "", false
	}
	for _, d := range req.Deletions {
		ch, mech, ok := mention(d.Name, d.Mechanism)
		if !ok {
			continue
		}
		if _, has := state[d.Name][mech]; !has {
			if ch.err == nil {
				ch.err, ch.msg = kerr.ResourceNotFound, "attempt to delete a user credential that does not exist"
			}
			continue
		}
		ch.recs = append(ch.recs, metadata.Record{Type: metadata.RecordDeleteScram, User: d.Name, Mechanism: mech})
	}
	for _, u := range req.Upsertions {
		ch, mech, ok := mention(u.Name, u.Mechanism)
		if !ok {
			continue
		}
		var code *kerr.Error
		var msg string
		switch {
		case u.Iterations < scramMinIterations:
			code, msg = kerr.UnacceptableCredential, "too few iterations (at least 4096)"
		case u.Iterations > scramMaxIterations:
			code, msg = kerr.UnacceptableCredential, "too many iterations (at most 16384)"
		case len(u.Salt) == 0:
			code, msg = kerr.UnacceptableCredential, "empty salt"
		case len(u.SaltedPassword) == 0:
			code, msg = kerr.UnacceptableCredential, "empty salted password"
		}
		if code != nil {
			if ch.err == nil {
				ch.err, ch.msg = code, msg
			}
			continue
		}
		stored, srv := scramKeys(mech, u.SaltedPassword)
		ch.recs = append(ch.recs, metadata.Record{Type: metadata.RecordSetScram, User: u.Name, Scram: &metadata.ScramCredential{
			Mechanism: mech, Salt: slices.Clone(u.Salt), Iterations: int(u.Iterations), StoredKey: stored, ServerKey: srv}})
	}
	var recs []metadata.Record
	var written []int
	for _, user := range order {
		ch := byUser[user]
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = user
		switch {
		case !allowed:
			r.ErrorCode, r.ErrorMessage = kerr.ClusterAuthorizationFailed.Code, kmsg.StringPtr("altering SCRAM credentials needs ALTER on the cluster")
		case ch.err != nil:
			r.ErrorCode, r.ErrorMessage = ch.err.Code, kmsg.StringPtr(ch.msg)
		default:
			recs = append(recs, ch.recs...)
			written = append(written, len(resp.Results))
		}
		resp.Results = append(resp.Results, r)
	}
	if len(recs) > 0 {
		if err := a.b.ApplySecurity(recs...); err != nil {
			code, msg := securityWriteError(err)
			for _, i := range written {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, kmsg.StringPtr(msg)
			}
		} else {
			a.lg.Info("SCRAM credentials altered", "principal", c.Principal(), "users", len(recs))
		}
	}
	return server.Ready(resp), nil
}
