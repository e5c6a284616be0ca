package record

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

var codecs = []Compression{Gzip, Snappy, LZ4, Zstd}

// testPayload is partly compressible, partly random data of size n.
func testPayload(n int) []byte {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		if i%64 < 32 {
			b[i] = byte(r.IntN(256))
		} else {
			b[i] = byte(i % 7)
		}
	}
	return b
}

func TestCompressRoundTrip(t *testing.T) {
	for _, c := range codecs {
		for _, n := range []int{0, 1, 100, 64 << 10, 1<<20 + 3} {
			t.Run(fmt.Sprintf("%s/%d", c, n), func(t *testing.T) {
				src := testPayload(n)
				comp, err := Compress(c, src)
				if err != nil {
					t.Fatalf("Compress: %v", err)
				}
				got, err := Decompress(c, comp)
				if err != nil {
					t.Fatalf("Decompress: %v", err)
				}
				if !bytes.Equal(got, src) {
					t.Fatalf("round trip changed %d bytes into %d", len(src), len(got))
				}
			})
		}
	}
	if got, _ := Compress(None, []byte("x")); string(got) != "x" {
		t.Fatalf("Compress(None) = %q", got)
	}
	if _, err := Compress(Compression(6), nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Compress(6) = %v", err)
	}
	if _, err := Decompress(Compression(-1), nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Decompress(-1) = %v", err)
	}
}

// TestDecompressForeign decodes data written by other encoders and
// settings than Compress uses: what real clients send.
func TestDecompressForeign(t *testing.T) {
	src := testPayload(200 << 10)
	half := len(src) / 2

	// Java's GZIPOutputStream writes one member; librdkafka and others may
	// write several. Both must decode to the concatenation.
	var gz bytes.Buffer
	for _, part := range [][]byte{src[:half], src[half:]} {
		w := stdgzip.NewWriter(&gz)
		_, _ = w.Write(part)
		_ = w.Close()
	}

	// snappy-java (the Java client) frames: header, then length-prefixed
	// blocks of at most 32 KiB.
	xerial := append([]byte(nil), xerialHeader...)
	xerial = binary.BigEndian.AppendUint32(xerial, 1)
	xerial = binary.BigEndian.AppendUint32(xerial, 1)
	for rest := src; len(rest) > 0; {
		n := min(len(rest), 32<<10)
		blk := snappy.Encode(nil, rest[:n])
		xerial = binary.BigEndian.AppendUint32(xerial, uint32(len(blk)))
		xerial = append(xerial, blk...)
		rest = rest[n:]
	}

	// lz4 with the library defaults (4 MiB blocks, content checksum) and
	// with block checksums, as librdkafka may write.
	lz4Frame := func(opts ...lz4.Option) []byte {
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		if err := w.Apply(opts...); err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(src)
		_ = w.Close()
		return buf.Bytes()
	}

	zenc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderCRC(true))
	zfrm := zenc.EncodeAll(src, nil)

	tests := []struct {
		name string
		c    Compression
		data []byte
	}{
		{"gzip two members", Gzip, gz.Bytes()},
		{"snappy xerial", Snappy, xerial},
		{"snappy s2 compat", Snappy, s2.EncodeSnappy(nil, src)},
		{"lz4 defaults", LZ4, lz4Frame()},
		{"lz4 block checksums", LZ4, lz4Frame(lz4.BlockChecksumOption(true), lz4.BlockSizeOption(lz4.Block256Kb))},
		{"zstd best with crc", Zstd, zfrm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decompress(tt.c, tt.data)
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("Decompress = %d bytes, %v; want %d bytes", len(got), err, len(src))
			}
		})
	}
}

// TestDecompressBound checks that a small input expanding past
// MaxDecompressedSize is refused for every codec.
func TestDecompressBound(t *testing.T) {
	big := make([]byte, MaxDecompressedSize+1)
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			comp, err := Compress(c, big)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decompress(c, comp); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decompress(%d compressed bytes of %d) = %v, want ErrCorrupt", len(comp), len(big), err)
			}
		})
	}
	// A xerial stream whose blocks together pass the bound.
	blk := snappy.Encode(nil, make([]byte, 1<<20))
	x := append([]byte(nil), xerialHeader...)
	x = append(x, 0, 0, 0, 1, 0, 0, 0, 1)
	for range 65 {
		x = binary.BigEndian.AppendUint32(x, uint32(len(blk)))
		x = append(x, blk...)
	}
	if _, err := Decompress(Snappy, x); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Decompress(65 MiB xerial) = %v, want ErrCorrupt", err)
	}
}

func TestDecompressGarbage(t *testing.T) {
	inputs := [][]byte{nil, {0}, []byte("not compressed at all"), append(append([]byte(nil), xerialHeader...), 1, 2, 3)}
	for _, c := range codecs {
		for i, in := range inputs {
			if c == Snappy && i == 1 {
				continue // {0} is a valid empty snappy block
			}
			if _, err := Decompress(c, in); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Decompress(%s, input %d) = %v, want ErrCorrupt", c, i, err)
			}
		}
	}
	// A truncated but otherwise real stream.
	for _, c := range codecs {
		comp, _ := Compress(c, testPayload(10000))
		if _, err := Decompress(c, comp[:len(comp)/2]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Decompress(%s, truncated) = %v, want ErrCorrupt", c, err)
		}
	}
}
