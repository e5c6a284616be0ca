// Package config holds samsa's broker settings and Kafka's topic configs,
// under Kafka's names, so that a Kafka operator's server.properties and
// kafka-configs habits carry over.
//
// The package is pure: it parses an io.Reader and otherwise does no I/O.
// The flow at start-up is
//
//	props, err := config.ParseProperties(file)   // Java .properties syntax
//	b := config.Default()                        // samsa's defaults
//	warnings, err := b.Apply(props)              // unknown/unused keys warn, bad values fail
//	err = b.Validate()                           // cross-field checks
//
// and at run time the api layer uses ValidateTopicConfigs (CreateTopics,
// AlterConfigs), ResolveTopic (a topic's effective settings) and
// DescribeTopic / DescribeBroker (DescribeConfigs), mapping ErrUnknownConfig
// and ErrInvalidValue to Kafka error codes itself: this package does not
// import kerr or kmsg.
//
// Where samsa's defaults differ from Kafka's, on purpose:
//
//	log.flush.interval.messages  1 (fsync before acknowledging), Kafka: Long.MAX_VALUE
//	log.flush.interval.ms        1000, Kafka: null
//	queued.max.request.bytes     256 MiB, Kafka: -1 (unbounded)
//	broker.session.timeout.ms    1500, Kafka: 9000 (failover in about two seconds)
//	broker.heartbeat.interval.ms 250, Kafka: 2000
//	node.id                      1, Kafka: required
//	listeners                    PLAINTEXT://127.0.0.1:9092, Kafka: PLAINTEXT://:9092
//	log.dirs                     ./samsa-data, Kafka: /tmp/kafka-logs
//
// Sources and synonyms follow Kafka's DescribeConfigs: a topic config's
// synonyms are the topic override, then the broker keys the file set (most
// precise first: log.retention.ms, .minutes, .hours), then the broker keys'
// defaults; the entry's source is the first synonym's.
package config
