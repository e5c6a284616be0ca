package quota

import (
	"errors"
	"testing"
)

func TestEntityString(t *testing.T) {
	cases := map[string]Entity{
		"/users/alice/clients/c":             ForUser("alice").AndClient("c"),
		"/users/alice/clients/<default>":     ForUser("alice").AndDefaultClient(),
		"/users/alice":                       ForUser("alice"),
		"/users/<default>/clients/c":         ForDefaultUser().AndClient("c"),
		"/users/<default>/clients/<default>": ForDefaultUser().AndDefaultClient(),
		"/users/<default>":                   ForDefaultUser(),
		"/clients/c":                         ForClient("c"),
		"/clients/<default>":                 ForDefaultClient(),
		"/ips/10.0.0.1":                      ForIP("10.0.0.1"),
		"/ips/<default>":                     ForDefaultIP(),
		"/":                                  {},
		"/users/<default>/clients/x":         {User: "ignored", DefaultUser: true, ClientID: "x", HasClient: true},
	}
	for want, e := range cases {
		if got := e.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

func TestValidKey(t *testing.T) {
	cases := []struct {
		key string
		e   Entity
		ok  bool
	}{
		{KeyProducerByteRate, ForUser("u"), true},
		{KeyConsumerByteRate, ForUser("u").AndClient("c"), true},
		{KeyRequestPercentage, ForDefaultClient(), true},
		{KeyControllerMutationRate, ForDefaultUser().AndDefaultClient(), true},
		{KeyConnectionCreationRate, ForIP("10.0.0.1"), true},
		{KeyConnectionCreationRate, ForIP("::1"), true},
		{KeyConnectionCreationRate, ForDefaultIP(), true},
		{KeyConnectionCreationRate, ForUser("u"), false}, // only on IPs
		{KeyProducerByteRate, ForIP("10.0.0.1"), false},  // not on IPs
		{KeyRequestPercentage, ForDefaultIP(), false},    // not on IPs
		{"bogus_rate", ForUser("u"), false},              // unknown key
		{KeyProducerByteRate, Entity{}, false},           // empty entity
		{KeyProducerByteRate, ForUser(""), false},        // empty name
		{KeyProducerByteRate, ForClient(""), false},      // empty name
		{KeyConnectionCreationRate, ForIP("host.example"), false},
		{KeyConnectionCreationRate, Entity{IP: "10.0.0.1", HasIP: true, User: "u", HasUser: true}, false},
	}
	for _, tc := range cases {
		err := ValidKey(tc.key, tc.e)
		if (err == nil) != tc.ok {
			t.Errorf("ValidKey(%s, %s) = %v, want ok=%v", tc.key, tc.e, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("ValidKey(%s, %s) error %v does not wrap ErrInvalidRequest", tc.key, tc.e, err)
		}
	}
}

func TestValidValue(t *testing.T) {
	cases := []struct {
		key string
		v   float64
		ok  bool
	}{
		{KeyProducerByteRate, 1024, true},
		{KeyProducerByteRate, 1024.5, false}, // LONG
		{KeyProducerByteRate, 0, false},
		{KeyConsumerByteRate, -1, false},
		{KeyRequestPercentage, 12.5, true}, // DOUBLE
		{KeyControllerMutationRate, 0.5, true},
		{KeyConnectionCreationRate, 10, true},
		{KeyConnectionCreationRate, 1.5, false}, // INT
		{KeyConnectionCreationRate, 1 << 40, false},
		{"bogus", 1, false},
	}
	for _, tc := range cases {
		if err := ValidValue(tc.key, tc.v); (err == nil) != tc.ok {
			t.Errorf("ValidValue(%s, %v) = %v, want ok=%v", tc.key, tc.v, err, tc.ok)
		}
	}
}

// describeFixture is the entity set of Kafka's ClientQuotasRequestTest
// (testDescribeClientQuotasMatch...): 11 user/client entities and 2 IPs.
func describeFixture() map[Entity]Values {
	rp := func(v float64) Values { return Values{KeyRequestPercentage: v} }
	cr := func(v float64) Values { return Values{KeyConnectionCreationRate: v} }
	return map[Entity]Values{
		ForUser("user-1").AndClient("client-id-1"): rp(50.50),
		ForUser("user-2").AndClient("client-id-1"): rp(51.51),
		ForUser("user-3").AndClient("client-id-2"): rp(52.52),
		ForDefaultUser().AndClient("client-id-1"):  rp(53.53),
		ForUser("user-1").AndDefaultClient():       rp(54.54),
		ForUser("user-3").AndDefaultClient():       rp(55.55),
		ForUser("user-1"):                          rp(56.56),
		ForUser("user-2"):                          rp(57.57),
		ForUser("user-3"):                          rp(58.58),
		ForDefaultUser():                           rp(59.59),
		ForClient("client-id-2"):                   rp(60.60),
		ForIP("1.2.3.4"):                           cr(10),
		ForIP("2.3.4.5"):                           cr(20),
	}
}

func TestDescribe(t *testing.T) {
	exact := func(typ, name string) FilterComponent { return FilterComponent{typ, MatchExact, name} }
	def := func(typ string) FilterComponent { return FilterComponent{EntityType: typ, MatchType: MatchDefault} }
	spec := func(typ string) FilterComponent { return FilterComponent{EntityType: typ, MatchType: MatchSpecified} }
	cases := []struct {
		name   string
		filter []FilterComponent
		strict bool
		want   []Entity // nil: check count only
		count  int
	}{
		{"exact user", []FilterComponent{exact(EntityUser, "user-1")}, false, nil, 3},
		{"exact user strict", []FilterComponent{exact(EntityUser, "user-1")}, true, []Entity{ForUser("user-1")}, 1},
		{"exact user and client", []FilterComponent{exact(EntityUser, "user-2"), exact(EntityClientID, "client-id-1")}, true,
			[]Entity{ForUser("user-2").AndClient("client-id-1")}, 1},
		{"exact unknown", []FilterComponent{exact(EntityUser, "user-9")}, false, nil, 0},
		{"default user", []FilterComponent{def(EntityUser)}, false, nil, 2},
		{"default user strict", []FilterComponent{def(EntityUser)}, true, []Entity{ForDefaultUser()}, 1},
		{"exact user default client", []FilterComponent{exact(EntityUser, "user-1"), def(EntityClientID)}, false,
			[]Entity{ForUser("user-1").AndDefaultClient()}, 1},
		{"any user exact client", []FilterComponent{spec(EntityUser), exact(EntityClientID, "client-id-1")}, false, nil, 3},
		{"specified user strict (default included)", []FilterComponent{spec(EntityUser)}, true,
			[]Entity{ForUser("user-1"), ForUser("user-2"), ForUser("user-3"), ForDefaultUser()}, 4},
		{"specified user", []FilterComponent{spec(EntityUser)}, false, nil, 10},
		{"specified client strict", []FilterComponent{spec(EntityClientID)}, true, []Entity{ForClient("client-id-2")}, 1},
		{"specified client", []FilterComponent{spec(EntityClientID)}, false, nil, 7},
		{"specified ip", []FilterComponent{spec(EntityIP)}, false, nil, 2},
		{"exact ip", []FilterComponent{exact(EntityIP, "1.2.3.4")}, true, []Entity{ForIP("1.2.3.4")}, 1},
		{"default ip absent", []FilterComponent{def(EntityIP)}, false, nil, 0},
		{"empty filter", nil, false, nil, 13},
		{"empty filter strict", nil, true, nil, 0},
	}
	all := describeFixture()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Describe(all, tc.filter, tc.strict)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.count {
				t.Fatalf("%d entities, want %d: %v", len(got), tc.count, got)
			}
			for _, e := range tc.want {
				v, ok := got[e]
				if !ok {
					t.Fatalf("%s missing from %v", e, got)
				}
				if v[KeyRequestPercentage] != all[e][KeyRequestPercentage] || v[KeyConnectionCreationRate] != all[e][KeyConnectionCreationRate] {
					t.Fatalf("%s values %v, want %v", e, v, all[e])
				}
			}
		})
	}
	// Results are copies: changing them does not change the source.
	got, _ := Describe(all, []FilterComponent{exact(EntityUser, "user-1")}, true)
	got[ForUser("user-1")][KeyRequestPercentage] = 1
	if all[ForUser("user-1")][KeyRequestPercentage] != 56.56 {
		t.Fatal("Describe aliased the caller's Values")
	}
	// /ips/<default> is among "all IP quotas" (Kafka's ClientQuotasRequestTest).
	all[ForDefaultIP()] = Values{KeyConnectionCreationRate: 200}
	if got, _ := Describe(all, []FilterComponent{spec(EntityIP)}, true); len(got) != 3 {
		t.Fatalf("all IP quotas: %v", got)
	}
}

func TestDescribeInvalidFilter(t *testing.T) {
	cases := []struct {
		name   string
		filter []FilterComponent
		want   error
	}{
		{"empty type", []FilterComponent{{EntityType: "", MatchType: MatchSpecified}}, ErrInvalidRequest},
		{"unknown type", []FilterComponent{{EntityType: "group", MatchType: MatchSpecified}}, ErrUnsupportedEntityType},
		{"duplicate type", []FilterComponent{{EntityUser, MatchExact, "a"}, {EntityUser, MatchDefault, ""}}, ErrInvalidRequest},
		{"default with match", []FilterComponent{{EntityUser, MatchDefault, "a"}}, ErrInvalidRequest},
		{"specified with match", []FilterComponent{{EntityUser, MatchSpecified, "a"}}, ErrInvalidRequest},
		{"unknown match type", []FilterComponent{{EntityUser, 7, ""}}, ErrInvalidRequest},
		{"ip with user", []FilterComponent{{EntityIP, MatchSpecified, ""}, {EntityUser, MatchSpecified, ""}}, ErrInvalidRequest},
		{"ip with client", []FilterComponent{{EntityIP, MatchExact, "1.2.3.4"}, {EntityClientID, MatchDefault, ""}}, ErrInvalidRequest},
	}
	for _, tc := range cases {
		if _, err := Describe(describeFixture(), tc.filter, false); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
}
