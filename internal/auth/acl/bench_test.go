package acl

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// benchBindings returns 10 000 bindings shaped like a multi-tenant cluster:
// per-user literal topic and group grants, per-team prefixed grants, a few
// wildcard and DENY bindings.
func benchBindings() []Binding {
	var bs []Binding
	for i := range 4000 {
		user := fmt.Sprintf("User:u%d", i%500)
		bs = append(bs, bind(topic, fmt.Sprintf("topic-%d", i), literal, user, opRead, allow))
		bs = append(bs, bind(group, fmt.Sprintf("group-%d", i), literal, user, opRead, allow))
	}
	for i := range 1990 {
		team := fmt.Sprintf("User:team%d", i%200)
		bs = append(bs, bind(topic, fmt.Sprintf("team%d.%d.", i%200, i), prefixed, team, opWrite, allow))
	}
	for i := range 5 {
		bs = append(bs, bind(topic, "*", literal, fmt.Sprintf("User:ops%d", i), opDescribe, allow))
		bs = append(bs, bind(topic, fmt.Sprintf("secret%d", i), prefixed, "User:*", opRead, deny))
	}
	if len(bs) != 10000 {
		panic(len(bs))
	}
	return bs
}

func BenchmarkAuthorize(b *testing.B) {
	a := New(Config{SuperUsers: []string{"User:admin"}}, benchBindings())
	cases := []struct {
		name, principal string
		op              kmsg.ACLOperation
		rt              kmsg.ACLResourceType
		res             string
		want            bool
	}{
		{"literal-allow", "User:u7", opRead, topic, "topic-7", true},
		{"literal-implied-describe", "User:u7", opDescribe, topic, "topic-507", true},
		{"literal-miss", "User:u8", opRead, topic, "topic-7", false},
		{"prefixed-allow", "User:team3", opWrite, topic, "team3.203.events", true},
		{"prefixed-deny", "User:u1", opRead, topic, "secret1-x", false},
		{"group", "User:u9", opRead, group, "group-9", true},
		{"super-user", "User:admin", opAlter, topic, "topic-1", true},
	}
	for _, c := range cases {
		if got := a.Authorize(c.principal, ip1, c.op, c.rt, c.res); got != c.want {
			b.Fatalf("%s: Authorize = %v, want %v", c.name, got, c.want)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Authorize(c.principal, ip1, c.op, c.rt, c.res)
			}
		})
	}
	b.Run("authorized-operations", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.AuthorizedOperations("User:u7", ip1, topic, "topic-7")
		}
	})
	b.Run("by-resource-type-none", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.AuthorizeByResourceType("User:nobody", ip1, opCreate, topic)
		}
	})
	b.Run("by-resource-type-prefixed", func(b *testing.B) {
		if !a.AuthorizeByResourceType("User:team3", ip1, opWrite, topic) {
			b.Fatal("team3 may write some topic")
		}
		b.ReportAllocs()
		for b.Loop() {
			a.AuthorizeByResourceType("User:team3", ip1, opWrite, topic)
		}
	})
}

func BenchmarkNew(b *testing.B) {
	bs := benchBindings()
	b.ReportAllocs()
	for b.Loop() {
		New(Config{}, bs)
	}
}

func TestAuthorizeDoesNotAllocate(t *testing.T) {
	a := New(Config{}, benchBindings())
	n := testing.AllocsPerRun(100, func() {
		a.Authorize("User:team3", ip1, opWrite, topic, "team3.203.events")
		a.Authorize("User:u7", ip1, opDescribe, topic, "topic-507")
		a.AuthorizedOperations("User:u7", ip1, topic, "topic-7")
	})
	if n != 0 {
		t.Fatalf("Authorize allocates %v times per run", n)
	}
}
