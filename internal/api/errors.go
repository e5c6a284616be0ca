package api

import (
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/controller"
	"github.com/samsa-io/samsa/internal/log"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/partition"
	"github.com/samsa-io/samsa/internal/record"
)

// errorCode maps an error from the layers below to the Kafka code for a
// response. It is the only such mapping: lower layers never import kerr.
// Unexpected errors are logged by the caller and answered as
// UNKNOWN_SERVER_ERROR, or KAFKA_STORAGE_ERROR for log I/O faults.
func errorCode(err error) int16 {
	var ce *controller.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ce):
		// The active controller's refusal carries its own Kafka code;
		// a quorum without a leader is, to a client, "try again".
		if ce.Code == kerr.NotController.Code {
			return kerr.RequestTimedOut.Code
		}
		return ce.Code
	case errors.Is(err, partition.ErrNotLeader):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, record.ErrCorrupt), errors.Is(err, log.ErrCorrupt):
		return kerr.CorruptMessage.Code
	case errors.Is(err, record.ErrUnsupportedMagic):
		return kerr.UnsupportedForMessageFormat.Code
	case errors.Is(err, partition.ErrMessageTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, partition.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, partition.ErrInvalidEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, partition.ErrKeylessRecordOnCompactedTopic), errors.Is(err, partition.ErrMultipleBatches):
		return kerr.InvalidRecord.Code
	case errors.Is(err, partition.ErrInvalidTxnState):
		return kerr.InvalidTxnState.Code
	case errors.Is(err, partition.ErrCoordinatorFenced):
		return kerr.TransactionCoordinatorFenced.Code
	case errors.Is(err, partition.ErrControlBatchFromClient), errors.Is(err, partition.ErrTransactionalWithoutProducerID):
		return kerr.InvalidRecord.Code
	case errors.Is(err, partition.ErrOffsetOutOfRange), errors.Is(err, log.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, partition.ErrClosed), errors.Is(err, log.ErrClosed):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, broker.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, metadata.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, metadata.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, broker.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, broker.ErrDescriptorLimit):
		return kerr.PolicyViolation.Code
	case errors.Is(err, broker.ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, config.ErrUnknownConfig), errors.Is(err, config.ErrInvalidValue):
		return kerr.InvalidConfig.Code
	case errors.Is(err, errInvalidRequest):
		return kerr.InvalidRequest.Code
	case errors.Is(err, errInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, log.ErrStorage), errors.Is(err, metadata.ErrStoreFailed):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, broker.ErrClosed):
		return kerr.BrokerNotAvailable.Code
	case isStorageError(err):
		return kerr.KafkaStorageError.Code
	default:
		return kerr.UnknownServerError.Code
	}
}

// errorMessage is the text for the response's error_message field where
// the version has one: the error's own words, which say what was wrong.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := clientMessage(err)
	return &s
}

// internalPrefixes are the package prefixes of samsa's sentinel errors
// ("metadata: topic already exists"). They help in logs but mean nothing
// to a client reading an error_message, so clientMessage drops them.
var internalPrefixes = strings.NewReplacer(
	"metadata: ", "", "broker: ", "", "config: ", "", "partition: ", "",
	"log: ", "", "record: ", "", "group: ", "", "api: ", "", "controller: ", "",
)

// clientMessage is err's text as a client should read it: one line,
// without samsa's internal package prefixes.
func clientMessage(err error) string {
	s := internalPrefixes.Replace(err.Error())
	return strings.ReplaceAll(s, "\n", "; ")
}
