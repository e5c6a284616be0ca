// Package record knows Kafka's on-wire and on-disk record formats: the v2
// record batch (magic 2, KIP-98) and the legacy v0/v1 message sets (magic 0
// and 1, KIP-32). It knows nothing of topics, partitions or error codes; the
// callers map ErrCorrupt and ErrUnsupportedMagic to Kafka codes.
//
// # Record batch v2
//
// All integers are big-endian. The header is 61 bytes (BatchHeaderSize) and
// is read at fixed offsets without allocation:
//
//	offset  size  field
//	     0     8  baseOffset            \ LogOverhead (12): not counted by
//	     8     4  batchLength           / batchLength
//	    12     4  partitionLeaderEpoch  not covered by the CRC (broker-owned)
//	    16     1  magic (= 2)           same offset in v0/v1 (MagicOffset)
//	    17     4  crc                   CRC-32C (Castagnoli) of bytes 21..end
//	    21     2  attributes            \
//	    23     4  lastOffsetDelta        |
//	    27     8  baseTimestamp          |
//	    35     8  maxTimestamp           |
//	    43     8  producerId             |  covered by the CRC
//	    51     2  producerEpoch          |
//	    53     4  baseSequence           |
//	    57     4  recordsCount           |
//	    61     -  records (possibly compressed as one block)
//
//	attributes: bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4,
//	4 zstd), bit 3 timestamp type (1 = LogAppendTime), bit 4 transactional,
//	bit 5 control, bit 6 delete horizon set (KIP-534), bits 7-15 unused.
//
// batchLength counts the bytes after itself, so a batch occupies
// LogOverhead+batchLength bytes. Because baseOffset and partitionLeaderEpoch
// sit before the CRC'd range, the broker can assign them in place without
// recomputing the CRC; setting LogAppendTime changes attributes and
// maxTimestamp and so does recompute it.
//
// Each record inside the records area is length-prefixed; varint is a
// zigzag-encoded signed varint (protobuf sint32/sint64 style):
//
//	length          varint   bytes of the record after this field
//	attributes      int8     unused, 0
//	timestampDelta  varlong  relative to baseTimestamp
//	offsetDelta     varint   relative to baseOffset
//	keyLength       varint   -1 = null key
//	key             bytes
//	valueLength     varint   -1 = null value
//	value           bytes
//	headerCount     varint
//	headers         [headerKeyLength varint, headerKey, headerValueLength varint, headerValue]
//
// A producer sends offsetDelta 0..n-1 and lastOffsetDelta = n-1. Compaction
// may later remove records from a stored batch, leaving gaps in the deltas
// while lastOffsetDelta keeps the original value, so readers of stored data
// (ForEachRecord) accept gaps while Validate, which checks produce input, does
// not.
//
// # Legacy message sets v0 and v1
//
// A message set is a concatenation of entries, with no count:
//
//	offset       int64
//	messageSize  int32   bytes after this field
//	crc          uint32  CRC-32 (IEEE) of magic..end
//	magic        int8    0 or 1
//	attributes   int8    bits 0-2 compression; bit 3 timestamp type (v1 only)
//	timestamp    int64   v1 only (KIP-32)
//	key          int32 length (-1 = null) + bytes
//	value        int32 length (-1 = null) + bytes
//
// A compressed message is a wrapper whose value is a compressed message set of
// inner, uncompressed messages. In v1 inner offsets are relative (0..n-1) and
// the wrapper carries the absolute offset of the last inner message; in v0
// inner offsets are absolute. For a v1 wrapper with LogAppendTime every inner
// message takes the wrapper's timestamp.
//
// # Compression
//
// gzip, snappy, lz4 and zstd are supported as Kafka's clients write them.
// Snappy is read both plain and in the xerial framing the Java client writes
// ("\x82SNAPPY\x00" header, then big-endian length-prefixed blocks); it is
// written plain, which every current client reads. LZ4 is the standard frame
// format (KIP-57). Decompression output is bounded by MaxDecompressedSize.
package record
