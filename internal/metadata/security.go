package metadata

// Security metadata: ACLs, SCRAM credentials and client quotas. They are
// metadata records like topics, so a cluster replicates them through the
// controller quorum (as KRaft's AccessControlEntryRecord,
// UserScramCredentialRecord and ClientQuotaRecord do) and a single broker
// keeps them in its snapshot file. Apply validates only the shape; the
// meaning (which operations exist, which quota keys apply to which
// entity) is checked by the API layer before it writes a record.

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
)

const (
	RecordCreateACLs  RecordType = "create_acls"  // ACLs: bindings to add (already present ones are kept once)
	RecordDeleteACLs  RecordType = "delete_acls"  // ACLs: bindings to remove (exact match)
	RecordSetScram    RecordType = "set_scram"    // User, Scram: insert or replace one credential
	RecordDeleteScram RecordType = "delete_scram" // User, Mechanism
	RecordAlterQuotas RecordType = "alter_quotas" // Quota: set Values, remove Remove
)

// ACL is one access control binding, with Kafka's enum codes (kmsg's
// ACLResourceType, ACLResourcePatternType, ACLOperation, ACLPermissionType).
type ACL struct {
	ResourceType int8   `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  int8   `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}

func compareACL(a, b ACL) int {
	return cmp.Or(cmp.Compare(a.ResourceType, b.ResourceType), cmp.Compare(a.ResourceName, b.ResourceName),
		cmp.Compare(a.PatternType, b.PatternType), cmp.Compare(a.Principal, b.Principal), cmp.Compare(a.Host, b.Host),
		cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Permission, b.Permission))
}

// ScramCredential is a user's SCRAM credential for one mechanism: the salted
// keys of RFC 5802, never the password.
type ScramCredential struct {
	Mechanism  string `json:"mechanism"` // SCRAM-SHA-256 or SCRAM-SHA-512
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// QuotaEntity names what a client quota applies to. Each part is absent,
// a name, or Kafka's <default> entity (…Default set, name empty).
type QuotaEntity struct {
	User          string `json:"user,omitempty"`
	HasUser       bool   `json:"has_user,omitempty"`
	DefaultUser   bool   `json:"default_user,omitempty"`
	ClientID      string `json:"client_id,omitempty"`
	HasClientID   bool   `json:"has_client_id,omitempty"`
	DefaultClient bool   `json:"default_client,omitempty"`
	IP            string `json:"ip,omitempty"`
	HasIP         bool   `json:"has_ip,omitempty"`
	DefaultIP     bool   `json:"default_ip,omitempty"`
}

func (e QuotaEntity) valid() bool {
	if !e.HasUser && !e.HasClientID && !e.HasIP {
		return false
	}
	if e.HasIP && (e.HasUser || e.HasClientID) {
		return false // Kafka: an IP entity stands alone
	}
	ok := func(has, def bool, name string) bool {
		return !has && !def && name == "" || has && (def != (name != ""))
	}
	return ok(e.HasUser, e.DefaultUser, e.User) && ok(e.HasClientID, e.DefaultClient, e.ClientID) && ok(e.HasIP, e.DefaultIP, e.IP)
}

// QuotaEntry is one entity's quota values (producer_byte_rate, ...).
type QuotaEntry struct {
	Entity QuotaEntity        `json:"entity"`
	Values map[string]float64 `json:"values"`
}

// QuotaChange sets and removes values of one entity.
type QuotaChange struct {
	Entity QuotaEntity        `json:"entity"`
	Set    map[string]float64 `json:"set,omitempty"`
	Remove []string           `json:"remove,omitempty"`
}

// SecurityState is the security part of State.
type SecurityState struct {
	ACLs   []ACL                                 `json:"acls,omitempty"`        // sorted by compareACL, no duplicates
	Scram  map[string]map[string]ScramCredential `json:"scram_users,omitempty"` // user -> mechanism -> credential
	Quotas []QuotaEntry                          `json:"quotas,omitempty"`      // one entry per entity, none empty
}

func (s SecurityState) clone() SecurityState {
	c := SecurityState{ACLs: slices.Clone(s.ACLs)}
	if s.Scram != nil {
		c.Scram = make(map[string]map[string]ScramCredential, len(s.Scram))
		for u, m := range s.Scram {
			c.Scram[u] = maps.Clone(m)
		}
	}
	for _, q := range s.Quotas {
		c.Quotas = append(c.Quotas, QuotaEntry{Entity: q.Entity, Values: maps.Clone(q.Values)})
	}
	return c
}

// ScramCredentialOf returns user's credential for mechanism.
func (s *State) ScramCredentialOf(mechanism, user string) (ScramCredential, bool) {
	c, ok := s.Security.Scram[user][mechanism]
	return c, ok
}

func (s *State) applySecurity(r Record) error {
	sec := &s.Security
	switch r.Type {
	case RecordCreateACLs:
		for _, a := range r.ACLs {
			if a.ResourceName == "" || a.Principal == "" || a.Host == "" {
				return fmt.Errorf("%w: an ACL needs a resource name, a principal and a host", ErrInvalidRecord)
			}
		}
		for _, a := range r.ACLs {
			if i, found := slices.BinarySearchFunc(sec.ACLs, a, compareACL); !found {
				sec.ACLs = slices.Insert(sec.ACLs, i, a)
			}
		}
	case RecordDeleteACLs:
		for _, a := range r.ACLs {
			if i, found := slices.BinarySearchFunc(sec.ACLs, a, compareACL); found {
				sec.ACLs = slices.Delete(sec.ACLs, i, i+1)
			}
		}
	case RecordSetScram:
		c := r.Scram
		if r.User == "" || c == nil || c.Mechanism == "" || len(c.Salt) == 0 || c.Iterations <= 0 || len(c.StoredKey) == 0 || len(c.ServerKey) == 0 {
			return fmt.Errorf("%w: set_scram needs a user and a whole credential", ErrInvalidRecord)
		}
		if sec.Scram == nil {
			sec.Scram = map[string]map[string]ScramCredential{}
		}
		if sec.Scram[r.User] == nil {
			sec.Scram[r.User] = map[string]ScramCredential{}
		}
		sec.Scram[r.User][c.Mechanism] = *c
	case RecordDeleteScram:
		if r.User == "" || r.Mechanism == "" {
			return fmt.Errorf("%w: delete_scram needs a user and a mechanism", ErrInvalidRecord)
		}
		delete(sec.Scram[r.User], r.Mechanism)
		if len(sec.Scram[r.User]) == 0 {
			delete(sec.Scram, r.User)
		}
	case RecordAlterQuotas:
		q := r.Quota
		if q == nil || !q.Entity.valid() {
			return fmt.Errorf("%w: alter_quotas needs a valid entity", ErrInvalidRecord)
		}
		i := slices.IndexFunc(sec.Quotas, func(e QuotaEntry) bool { return e.Entity == q.Entity })
		var vals map[string]float64
		if i >= 0 {
			vals = sec.Quotas[i].Values
		} else {
			vals = map[string]float64{}
		}
		for k, v := range q.Set {
			vals[k] = v
		}
		for _, k := range q.Remove {
			delete(vals, k)
		}
		switch {
		case i >= 0 && len(vals) == 0:
			sec.Quotas = slices.Delete(sec.Quotas, i, i+1)
		case i < 0 && len(vals) > 0:
			sec.Quotas = append(sec.Quotas, QuotaEntry{Entity: q.Entity, Values: vals})
		}
	default:
		return fmt.Errorf("%w: unknown type %q", ErrInvalidRecord, r.Type)
	}
	return nil
}

// IsSecurityRecord reports whether t is one of the records above (the only
// ones a broker may ask the controller to commit as they are).
func IsSecurityRecord(t RecordType) bool {
	switch t {
	case RecordCreateACLs, RecordDeleteACLs, RecordSetScram, RecordDeleteScram, RecordAlterQuotas:
		return true
	}
	return false
}
