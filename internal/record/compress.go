package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// MaxDecompressedSize bounds the output of Decompress. A compressed batch
// can expand by orders of magnitude (zstd over 1000x), so without a bound a
// small produce request could exhaust memory; Kafka's default
// message.max.bytes is 1 MiB, and 64 MiB leaves room for generous topic
// settings.
const MaxDecompressedSize = 64 << 20

// xerialHeader starts a snappy stream framed the way snappy-java's
// SnappyOutputStream (the Java client) writes it: this magic, a 4-byte
// version and a 4-byte minimum compatible version, then blocks each
// prefixed by a big-endian int32 compressed length.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16 // magic(8) + version(4) + compatible(4)

// Pools of stream codecs: their buffers (lz4's 64 KiB blocks, gzip's
// window) are worth reusing across batches. zstd's Encoder and Decoder are
// safe for concurrent EncodeAll/DecodeAll and are shared instead.
var (
	gzipReaders sync.Pool // *gzip.Reader
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	lz4Readers  = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
	lz4Writers  = sync.Pool{New: func() any {
		w := lz4.NewWriter(nil)
		// 64 KiB blocks without block checksums, as Kafka's Java client
		// writes (KafkaLZ4BlockOutputStream); lz4's default 4 MiB blocks
		// would cost 8 MiB of buffers per writer for typical batches.
		_ = w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ConcurrencyOption(1))
		return w
	}}

	zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
		return zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(MaxDecompressedSize),
			zstd.WithDecoderMaxWindow(MaxDecompressedSize))
	})
	zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	})
)

// Decompress returns the decompressed form of src, a batch's records area
// compressed with c. Output larger than MaxDecompressedSize, malformed input
// empty input and unknown codecs are errors wrapping ErrCorrupt. None
// returns src itself.
func Decompress(c Compression, src []byte) ([]byte, error) {
	if len(src) == 0 && c != None {
		// Every codec writes a header even for empty input; some readers
		// would take zero bytes as zero frames.
		return nil, corruptf("empty %s data", c)
	}
	switch c {
	case None:
		return src, nil
	case Gzip:
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(src))
		} else {
			err = zr.Reset(bytes.NewReader(src))
		}
		if err != nil {
			return nil, corruptf("gzip: %v", err)
		}
		out, err := readBounded(zr, len(src))
		gzipReaders.Put(zr)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return out, nil
	case Snappy:
		if bytes.HasPrefix(src, xerialHeader) {
			return decodeXerial(src)
		}
		return decodeSnappyBlock(nil, src)
	case LZ4:
		zr := lz4Readers.Get().(*lz4.Reader)
		zr.Reset(bytes.NewReader(src))
		out, err := readBounded(zr, len(src))
		zr.Reset(nil)
		lz4Readers.Put(zr)
		if err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		return out, nil
	case Zstd:
		d, err := zstdDecoder()
		if err != nil {
			return nil, fmt.Errorf("zstd decoder: %w", err)
		}
		out, err := d.DecodeAll(src, nil)
		if err != nil {
			return nil, corruptf("zstd: %v", err)
		}
		return out, nil
	}
	return nil, corruptf("unknown compression codec %d", c)
}

// readBounded reads r to EOF, refusing more than MaxDecompressedSize bytes.
// compressedLen sizes the first buffer.
func readBounded(r io.Reader, compressedLen int) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(min(4*compressedLen+512, MaxDecompressedSize))
	n, err := buf.ReadFrom(io.LimitReader(r, MaxDecompressedSize+1))
	if err != nil {
		return nil, corruptf("%v", err)
	}
	if n > MaxDecompressedSize {
		return nil, corruptf("decompressed size exceeds %d bytes", MaxDecompressedSize)
	}
	return buf.Bytes(), nil
}

// decodeSnappyBlock appends the decoding of one plain snappy block to dst,
// checking the declared length against the bound before allocating.
func decodeSnappyBlock(dst, src []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return nil, corruptf("snappy: %v", err)
	}
	if n > MaxDecompressedSize-len(dst) {
		return nil, corruptf("snappy: decompressed size exceeds %d bytes", MaxDecompressedSize)
	}
	if len(dst) == 0 {
		out, err := snappy.Decode(nil, src)
		if err != nil {
			return nil, corruptf("snappy: %v", err)
		}
		return out, nil
	}
	dst = slices.Grow(dst, n)[:len(dst)+n]
	out, err := snappy.Decode(dst[len(dst)-n:], src)
	if err != nil {
		return nil, corruptf("snappy: %v", err)
	}
	if len(out) != n {
		return nil, corruptf("snappy: decoded %d bytes, header said %d", len(out), n)
	}
	return dst, nil
}

// decodeXerial decodes a snappy-java framed stream: after the 16-byte header,
// blocks of [int32 length][snappy block] to the end of src.
func decodeXerial(src []byte) ([]byte, error) {
	if len(src) < xerialHeaderSize {
		return nil, corruptf("snappy: xerial header truncated")
	}
	b := src[xerialHeaderSize:]
	var out []byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, corruptf("snappy: xerial block length truncated")
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) {
			return nil, corruptf("snappy: xerial block of %d bytes with %d left", n, len(b))
		}
		var err error
		if out, err = decodeSnappyBlock(out, b[:n]); err != nil {
			return nil, err
		}
		b = b[n:]
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// Compress returns src compressed with c in the form Kafka clients read:
// gzip, plain snappy, the lz4 frame format, or a zstd frame. None returns
// src itself; an unknown codec is an error wrapping ErrCorrupt.
func Compress(c Compression, src []byte) ([]byte, error) {
	switch c {
	case None:
		return src, nil
	case Gzip:
		var buf bytes.Buffer
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(&buf)
		_, err := zw.Write(src)
		if err == nil {
			err = zw.Close()
		}
		zw.Reset(nil)
		gzipWriters.Put(zw)
		if err != nil {
			return nil, fmt.Errorf("record: gzip: %w", err)
		}
		return buf.Bytes(), nil
	case Snappy:
		return snappy.Encode(nil, src), nil
	case LZ4:
		var buf bytes.Buffer
		zw := lz4Writers.Get().(*lz4.Writer)
		zw.Reset(&buf)
		_, err := zw.Write(src)
		if err == nil {
			err = zw.Close()
		}
		zw.Reset(nil)
		lz4Writers.Put(zw)
		if err != nil {
			return nil, fmt.Errorf("record: lz4: %w", err)
		}
		return buf.Bytes(), nil
	case Zstd:
		e, err := zstdEncoder()
		if err != nil {
			return nil, fmt.Errorf("record: zstd encoder: %w", err)
		}
		return e.EncodeAll(src, nil), nil
	}
	return nil, corruptf("unknown compression codec %d", c)
}
