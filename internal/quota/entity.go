// Package quota implements Kafka's client quotas (KIP-13, KIP-55, KIP-124,
// KIP-219, KIP-257) and per-IP connection creation rate quotas (KIP-612):
// which configured entity applies to a client, how its usage is measured
// and how long it must be throttled when it goes over.
//
// The package only measures and answers with a delay. Muting the channel
// for that delay after the response has been sent (KIP-219) is the
// server's job, and choosing Kafka error codes is the api layer's: errors
// here wrap ErrInvalidRequest or ErrUnsupportedEntityType.
package quota

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
)

// Kafka's quota configuration keys.
const (
	KeyProducerByteRate       = "producer_byte_rate"
	KeyConsumerByteRate       = "consumer_byte_rate"
	KeyRequestPercentage      = "request_percentage"
	KeyControllerMutationRate = "controller_mutation_rate"
	KeyConnectionCreationRate = "connection_creation_rate"
)

// Kafka's entity types, as spelled in DescribeClientQuotas and
// AlterClientQuotas.
const (
	EntityUser     = "user"
	EntityClientID = "client-id"
	EntityIP       = "ip"
)

var (
	// ErrInvalidRequest marks a bad entity, key, value or filter (Kafka's
	// INVALID_REQUEST).
	ErrInvalidRequest = errors.New("invalid client quota request")
	// ErrUnsupportedEntityType marks a filter on an entity type Kafka does
	// not know (Kafka answers UNSUPPORTED_VERSION).
	ErrUnsupportedEntityType = errors.New("unsupported client quota entity type")
)

// Entity is a quota entity: some of a user principal name (without
// "User:"), a client id and an IP address, each either named or Kafka's
// <default>.
//
// Invariants (the constructors keep them; SetAll and Describe canonicalise
// literals that break them, so that equal entities are equal map keys):
// Default* implies Has*, a default component has an empty name, and an
// absent component has an empty name. IP never combines with user or
// client id (ValidKey rejects it).
type Entity struct {
	User        string
	HasUser     bool
	DefaultUser bool

	ClientID      string
	HasClient     bool
	DefaultClient bool

	IP        string
	HasIP     bool
	DefaultIP bool
}

// ForUser is /users/<name>.
func ForUser(name string) Entity { return Entity{User: name, HasUser: true} }

// ForDefaultUser is /users/<default>.
func ForDefaultUser() Entity { return Entity{HasUser: true, DefaultUser: true} }

// ForClient is /clients/<id>.
func ForClient(id string) Entity { return Entity{ClientID: id, HasClient: true} }

// ForDefaultClient is /clients/<default>.
func ForDefaultClient() Entity { return Entity{HasClient: true, DefaultClient: true} }

// ForIP is /ips/<ip>.
func ForIP(ip string) Entity { return Entity{IP: ip, HasIP: true} }

// ForDefaultIP is /ips/<default>.
func ForDefaultIP() Entity { return Entity{HasIP: true, DefaultIP: true} }

// AndClient adds the client id component: ForUser("u").AndClient("c") is
// /users/u/clients/c.
func (e Entity) AndClient(id string) Entity {
	e.ClientID, e.HasClient, e.DefaultClient = id, true, false
	return e
}

// AndDefaultClient adds the <default> client id component.
func (e Entity) AndDefaultClient() Entity {
	e.ClientID, e.HasClient, e.DefaultClient = "", true, true
	return e
}

// canonical restores the invariants on a hand-built literal.
func (e Entity) canonical() Entity {
	canon := func(name string, has, def bool) (string, bool, bool) {
		if def {
			return "", true, true
		}
		if !has {
			return "", false, false
		}
		return name, true, false
	}
	e.User, e.HasUser, e.DefaultUser = canon(e.User, e.HasUser, e.DefaultUser)
	e.ClientID, e.HasClient, e.DefaultClient = canon(e.ClientID, e.HasClient, e.DefaultClient)
	e.IP, e.HasIP, e.DefaultIP = canon(e.IP, e.HasIP, e.DefaultIP)
	return e
}

// String is the entity's path in Kafka's old configuration layout, e.g.
// /users/alice/clients/<default>, /clients/c, /ips/<default>.
func (e Entity) String() string {
	e = e.canonical()
	var b strings.Builder
	part := func(kind, name string, has, def bool) {
		if !has {
			return
		}
		b.WriteString("/" + kind + "/")
		if def {
			b.WriteString("<default>")
		} else {
			b.WriteString(name)
		}
	}
	part("users", e.User, e.HasUser, e.DefaultUser)
	part("clients", e.ClientID, e.HasClient, e.DefaultClient)
	part("ips", e.IP, e.HasIP, e.DefaultIP)
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// Values are one entity's quotas, by Kafka key.
type Values map[string]float64

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidRequest}, a...)...)
}

// validEntity checks the entity's shape the way Kafka's controller does
// before it accepts AlterClientQuotas.
func validEntity(e Entity) error {
	e = e.canonical()
	if !e.HasUser && !e.HasClient && !e.HasIP {
		return invalid("empty client quota entity")
	}
	if e.HasIP && (e.HasUser || e.HasClient) {
		return invalid("IP entity cannot be combined with user or client-id in %s", e)
	}
	if e.HasUser && !e.DefaultUser && e.User == "" {
		return invalid("empty user not supported (use the default entity)")
	}
	if e.HasClient && !e.DefaultClient && e.ClientID == "" {
		return invalid("empty client-id not supported (use the default entity)")
	}
	if e.HasIP && !e.DefaultIP {
		if e.IP == "" {
			return invalid("empty ip not supported (use the default entity)")
		}
		// Kafka also accepts a resolvable host name here; we do not
		// resolve names on the configuration path, so only literals.
		if _, err := netip.ParseAddr(e.IP); err != nil {
			return invalid("%q is not a valid IP address", e.IP)
		}
	}
	return nil
}

// ValidKey reports whether key may be set on entity e: byte rates, request
// percentage and controller mutation rate only on entities made of user
// and/or client id; connection creation rate only on IP entities. It also
// rejects malformed entities.
func ValidKey(key string, e Entity) error {
	if err := validEntity(e); err != nil {
		return err
	}
	e = e.canonical()
	switch key {
	case KeyProducerByteRate, KeyConsumerByteRate, KeyRequestPercentage, KeyControllerMutationRate:
		if e.HasIP {
			return invalid("%s applies to user and client-id entities, not to IP entity %s", key, e)
		}
		return nil
	case KeyConnectionCreationRate:
		if !e.HasIP {
			return invalid("%s applies only to IP entities, not to %s", key, e)
		}
		return nil
	}
	return invalid("unknown quota key %q", key)
}

// ValidValue checks a value for key as Kafka's controller does: positive,
// and whole for the keys Kafka types as LONG (byte rates) or INT
// (connection creation rate).
func ValidValue(key string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return invalid("quota %s must be a finite number", key)
	}
	if v <= 0 {
		return invalid("quota %s must be greater than 0", key)
	}
	switch key {
	case KeyProducerByteRate, KeyConsumerByteRate:
		if v > math.MaxInt64 {
			return invalid("quota %s is too large for a LONG", key)
		}
	case KeyConnectionCreationRate:
		if v > math.MaxInt32 {
			return invalid("quota %s is too large for an INT", key)
		}
	case KeyRequestPercentage, KeyControllerMutationRate:
		return nil
	default:
		return invalid("unknown quota key %q", key)
	}
	if math.Abs(math.Mod(v, 1)) > 1e-6 {
		return invalid("quota %s cannot be a fractional value", key)
	}
	return nil
}
