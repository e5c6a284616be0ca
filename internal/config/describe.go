package config

import (
	"cmp"
	"slices"
)

// Entry is one config in a DescribeConfigs answer.
type Entry struct {
	Name      string
	Value     string
	ValueNull bool // Kafka reports a setting with no value (and no default) as null
	Source    Source
	ReadOnly  bool
	Sensitive bool // true for PASSWORD configs, whose Value is then null
	Type      ConfigType
	Doc       string
	// Synonyms lists where the value could come from, highest precedence
	// first, each with its own value and source; Value is the first one's.
	Synonyms []Synonym
}

// Synonym is one candidate source of a config value.
type Synonym struct {
	Name   string
	Value  string
	Source Source
}

// DescribeTopic lists every topic config with its effective value and
// source as Kafka reports them: DYNAMIC_TOPIC_CONFIG when overridden,
// STATIC_BROKER_CONFIG when the broker's file set a synonym, else
// DEFAULT_CONFIG. Synonyms follow Kafka's order: the topic override, then
// the broker keys set in the file (most precise first), then the broker
// keys' defaults. Entries are sorted by name.
func DescribeTopic(b Broker, overrides map[string]string) []Entry {
	def := Default()
	entries := make([]Entry, 0, len(topicDefs))
	for _, d := range topicDefs {
		e := Entry{Name: d.Name, Type: d.Type, Doc: d.Doc, Source: SourceDefault}
		if v, ok := overrides[d.Name]; ok {
			e.Synonyms = append(e.Synonyms, Synonym{Name: d.Name, Value: v, Source: SourceDynamicTopic})
		}
		for _, k := range d.BrokerSynonyms {
			if _, ok := b.static[k]; ok {
				v, _ := brokerValue(&b, k)
				e.Synonyms = append(e.Synonyms, Synonym{Name: k, Value: v, Source: SourceStaticBroker})
			}
		}
		for _, k := range d.BrokerSynonyms {
			if v, ok := brokerValue(&def, k); ok {
				e.Synonyms = append(e.Synonyms, Synonym{Name: k, Value: v, Source: SourceDefault})
			}
		}
		switch v, ok := overrides[d.Name]; {
		case ok:
			e.Value, e.Source = v, SourceDynamicTopic
		default:
			// The Broker is the truth, even if code changed it after Apply;
			// the source says whether the file had a say.
			e.Value = d.fromBroker(&b)
			for _, s := range e.Synonyms {
				if s.Source == SourceStaticBroker {
					e.Source = SourceStaticBroker
					break
				}
			}
		}
		entries = append(entries, e)
	}
	return entries
}

// DescribeBroker lists every broker setting samsa reads, sorted by name,
// with its value and source: STATIC_BROKER_CONFIG for keys from the file,
// DEFAULT_CONFIG otherwise (Kafka takes the source of the first synonym,
// so a key is static when a lower-precedence key for the same setting came
// from the file). All are read-only: samsa has no dynamic broker
// configs yet. Synonyms follow Kafka's order for a key: the key itself from
// the file, then the lower-precedence keys for the same setting from the
// file, then the defaults.
func DescribeBroker(b Broker) []Entry {
	def := Default()
	entries := make([]Entry, 0, len(brokerKeys))
	for _, k := range brokerKeys {
		v, ok := k.get(&b)
		e := Entry{Name: k.name, Value: v, ValueNull: !ok, Source: SourceDefault, ReadOnly: true, Type: k.typ, Doc: k.doc}
		for _, s := range k.synonyms {
			if _, static := b.static[s]; static {
				sv, _ := brokerValue(&b, s)
				e.Synonyms = append(e.Synonyms, Synonym{Name: s, Value: sv, Source: SourceStaticBroker})
			}
		}
		for _, s := range k.synonyms {
			if dv, ok := brokerValue(&def, s); ok {
				e.Synonyms = append(e.Synonyms, Synonym{Name: s, Value: dv, Source: SourceDefault})
			}
		}
		// As in Kafka, the source is the first synonym's: log.retention.ms
		// is null but STATIC_BROKER_CONFIG when the file set only
		// log.retention.hours, which is what decides its effective value.
		if len(e.Synonyms) > 0 {
			e.Source = e.Synonyms[0].Source
		}
		if k.typ == TypePassword {
			e.Sensitive, e.Value, e.ValueNull = true, "", true
			e.Synonyms = nil
		}
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(x, y Entry) int { return cmp.Compare(x.Name, y.Name) })
	return entries
}
