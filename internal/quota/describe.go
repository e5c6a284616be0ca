package quota

import "fmt"

// Kafka's DescribeClientQuotas match types.
const (
	MatchExact     int8 = 0 // the component's name equals Match
	MatchDefault   int8 = 1 // the component is <default>
	MatchSpecified int8 = 2 // the component is present, named or <default>
)

// FilterComponent is one component of a DescribeClientQuotas filter.
// Match is used only with MatchExact; Kafka's null match is "" here.
type FilterComponent struct {
	EntityType string
	MatchType  int8
	Match      string
}

// component returns how e holds the given entity type.
func component(e Entity, entityType string) (has, def bool, name string) {
	switch entityType {
	case EntityUser:
		return e.HasUser, e.DefaultUser, e.User
	case EntityClientID:
		return e.HasClient, e.DefaultClient, e.ClientID
	default:
		return e.HasIP, e.DefaultIP, e.IP
	}
}

func components(e Entity) int {
	n := 0
	for _, h := range []bool{e.HasUser, e.HasClient, e.HasIP} {
		if h {
			n++
		}
	}
	return n
}

// Describe returns the entities of all that match filter, as Kafka's
// DescribeClientQuotas does: every component must match; with strict the
// entity must also have no other component. An empty filter matches
// everything unless strict, when it matches nothing.
//
// Kafka's MatchSpecified matches any entity holding the type, <default>
// included (ClientQuotasImage.matches checks only that the type is
// present; Kafka's ClientQuotasRequestTest expects /ips/<default> among
// "all IP quotas").
//
// The returned Values are copies.
func Describe(all map[Entity]Values, filter []FilterComponent, strict bool) (map[Entity]Values, error) {
	seen := map[string]bool{}
	for _, c := range filter {
		switch c.EntityType {
		case "":
			return nil, invalid("empty entity type in filter")
		case EntityUser, EntityClientID, EntityIP:
		default:
			return nil, fmt.Errorf("%w: %q", ErrUnsupportedEntityType, c.EntityType)
		}
		if seen[c.EntityType] {
			return nil, invalid("entity type %s cannot appear more than once in the filter", c.EntityType)
		}
		seen[c.EntityType] = true
		switch c.MatchType {
		case MatchExact:
		case MatchDefault, MatchSpecified:
			if c.Match != "" {
				return nil, invalid("match type %d for %s takes no match string", c.MatchType, c.EntityType)
			}
		default:
			return nil, invalid("unknown match type %d", c.MatchType)
		}
	}
	if seen[EntityIP] && (seen[EntityUser] || seen[EntityClientID]) {
		return nil, invalid("invalid entity filter component combination: ip with user or client-id")
	}

	out := map[Entity]Values{}
	for e, v := range all {
		if matches(e.canonical(), filter, strict) {
			cp := make(Values, len(v))
			for k, x := range v {
				cp[k] = x
			}
			out[e] = cp
		}
	}
	return out, nil
}

func matches(e Entity, filter []FilterComponent, strict bool) bool {
	if strict && components(e) != len(filter) {
		return false
	}
	for _, c := range filter {
		has, def, name := component(e, c.EntityType)
		if !has {
			return false
		}
		switch c.MatchType {
		case MatchExact:
			if def || name != c.Match {
				return false
			}
		case MatchDefault:
			if !def {
				return false
			}
		}
	}
	return true
}
