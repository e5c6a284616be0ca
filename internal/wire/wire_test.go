package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func frameOf(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

func TestReadFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		max     int32
		want    []byte
		wantErr error
	}{
		{"ok", frameOf([]byte("hello")), 100, []byte("hello"), nil},
		{"at limit", frameOf(make([]byte, 10)), 10, make([]byte, 10), nil},
		{"over limit", frameOf(make([]byte, 11)), 10, nil, ErrFrameTooLarge},
		{"huge claim, no body", []byte{0x7f, 0xff, 0xff, 0xff}, 100 << 20, nil, ErrFrameTooLarge},
		{"zero", []byte{0, 0, 0, 0}, 100, nil, ErrBadFrameSize},
		{"negative", []byte{0xff, 0xff, 0xff, 0xfe}, 100, nil, ErrBadFrameSize},
		{"truncated body", []byte{0, 0, 0, 9, 1, 2}, 100, nil, io.ErrUnexpectedEOF},
		{"truncated size", []byte{0, 0}, 100, nil, io.ErrUnexpectedEOF},
		{"empty", nil, 100, nil, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := ReadFrame(bytes.NewReader(tt.in), tt.max, nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseRequestHeaderRoundTrip(t *testing.T) {
	cid := "my-client"
	tests := []struct {
		name     string
		req      kmsg.Request
		version  int16
		clientID *string
		flexible bool
	}{
		{"metadata v1 (kafka-python)", kmsg.NewPtrMetadataRequest(), 1, &cid, false},
		{"metadata v12 flexible", kmsg.NewPtrMetadataRequest(), 12, &cid, true},
		{"produce v7 null client", kmsg.NewPtrProduceRequest(), 7, nil, false},
		{"produce v9 flexible", kmsg.NewPtrProduceRequest(), 9, &cid, true},
		{"api versions v0", kmsg.NewPtrApiVersionsRequest(), 0, &cid, false},
		{"api versions v3", kmsg.NewPtrApiVersionsRequest(), 3, &cid, true},
		{"fetch v4", kmsg.NewPtrFetchRequest(), 4, &cid, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.SetVersion(tt.version)
			frame := AppendRequest(nil, 42, tt.clientID, tt.req)
			body, _, err := ReadFrame(bytes.NewReader(frame), 1<<20, nil)
			if err != nil {
				t.Fatal(err)
			}
			h, rest, err := ParseRequestHeader(body)
			if err != nil {
				t.Fatal(err)
			}
			if h.APIKey != tt.req.Key() || h.APIVersion != tt.version || h.CorrelationID != 42 || h.Flexible != tt.flexible {
				t.Fatalf("header = %+v", h)
			}
			if tt.clientID != nil && h.ClientID != *tt.clientID {
				t.Fatalf("client id = %q", h.ClientID)
			}
			// The rest must decode as the body.
			req := kmsg.RequestForKey(h.APIKey)
			req.SetVersion(h.APIVersion)
			if err := req.ReadFrom(rest); err != nil {
				t.Fatalf("body did not decode: %v", err)
			}
		})
	}
}

func TestParseRequestHeaderErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"short", []byte{0, 3, 0}, ErrTruncatedHeader},
		{"unknown key", []byte{0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff}, ErrUnknownKey},
		{"client id past end", []byte{0, 3, 0, 1, 0, 0, 0, 1, 0, 50, 'a'}, ErrTruncatedHeader},
		{"bad client id length", []byte{0, 3, 0, 1, 0, 0, 0, 1, 0x80, 0x00}, ErrTruncatedHeader},
		{"flexible, tags missing", []byte{0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff}, ErrTruncatedHeader},
		{"flexible, tag past end", []byte{0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 1, 0, 100}, ErrTruncatedHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := ParseRequestHeader(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// An ApiVersions request at a version newer than kmsg knows still parses:
// the broker must answer it (KIP-511) rather than drop the connection.
func TestParseRequestHeaderFutureApiVersions(t *testing.T) {
	in := []byte{0, 18, 0, 99, 0, 0, 0, 7, 0, 1, 'c', 0}
	h, _, err := ParseRequestHeader(in)
	if err != nil || h.APIVersion != 99 || !h.Flexible || h.CorrelationID != 7 {
		t.Fatalf("h=%+v err=%v", h, err)
	}
}

func TestAppendResponse(t *testing.T) {
	resp := kmsg.NewPtrApiVersionsResponse()
	for _, flex := range []bool{false, true} {
		b := AppendResponse(nil, 9, flex, resp)
		if int(binary.BigEndian.Uint32(b)) != len(b)-4 {
			t.Fatalf("size prefix %d, frame %d", binary.BigEndian.Uint32(b), len(b)-4)
		}
		if binary.BigEndian.Uint32(b[4:]) != 9 {
			t.Fatal("correlation id")
		}
		off := 8
		if flex {
			if b[8] != 0 {
				t.Fatal("tagged fields byte")
			}
			off = 9
		}
		var r kmsg.ApiVersionsResponse
		if err := r.ReadFrom(b[off:]); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzParseRequestHeader checks, for any input: no panic; the body
// returned is a suffix of the input (nothing allocated from a length
// prefix); a header that parses re-encodes to the same prefix bytes for
// non-flexible headers.
func FuzzParseRequestHeader(f *testing.F) {
	cid := "c"
	for _, r := range []kmsg.Request{kmsg.NewPtrMetadataRequest(), kmsg.NewPtrProduceRequest(), kmsg.NewPtrApiVersionsRequest()} {
		for _, v := range []int16{0, 1, 3, 9, 12} {
			if v > r.MaxVersion() {
				continue
			}
			r.SetVersion(v)
			f.Add(AppendRequest(nil, 1, &cid, r)[4:])
		}
	}
	f.Add([]byte{0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		h, body, err := ParseRequestHeader(in)
		if err != nil {
			return
		}
		if len(body) > len(in) || (len(body) > 0 && &body[len(body)-1] != &in[len(in)-1]) {
			t.Fatalf("body is not a suffix of the input")
		}
		if !h.Flexible {
			n := len(in) - len(body)
			enc := binary.BigEndian.AppendUint16(nil, uint16(h.APIKey))
			enc = binary.BigEndian.AppendUint16(enc, uint16(h.APIVersion))
			enc = binary.BigEndian.AppendUint32(enc, uint32(h.CorrelationID))
			if !bytes.Equal(enc, in[:8]) || n < 10 {
				t.Fatalf("re-encoded prefix mismatch")
			}
		}
	})
}

// FuzzReadFrame fuzzes the server's frame reader with any bytes, arriving
// in chunks of any size: it never panics; a frame it returns has exactly the
// announced size, within the limit; what it allocates is charged first and
// never exceeds max(FirstChunk, twice what arrived), whatever size the peer
// claims; a refused size allocates nothing. recycled (when non-zero) is
// the capacity in KiB of a dirty buffer offered for reuse: it must not
// change the frame or what is charged.
func FuzzReadFrame(f *testing.F) {
	f.Add(frameOf([]byte("abc")), uint8(1), uint16(0))
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff}, uint8(3), uint16(4))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint8(0), uint16(0))
	f.Add(append([]byte{0, 0x10, 0, 0}, make([]byte, 3000)...), uint8(7), uint16(1))
	f.Add(append([]byte{0, 0, 0x10, 0}, bytes.Repeat([]byte{7}, 5000)...), uint8(200), uint16(5))
	const limit = 4 << 20
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8, recycled uint16) {
		var acquired, offered int64
		r := &chunkReader{b: in, n: int(chunk) + 1}
		var reuse func(n int) []byte
		if recycled != 0 {
			reuse = func(n int) []byte {
				offered = int64(n)
				return bytes.Repeat([]byte{0xee}, int(recycled%4096)<<10)[:0]
			}
		}
		got, charged, err := ReadFrameInto(r, limit, func(n int64) error {
			if n <= 0 {
				t.Fatalf("acquire(%d)", n)
			}
			acquired += n
			return nil
		}, reuse)
		if offered != 0 && acquired == 0 {
			t.Fatalf("reuse offered for %d bytes before any charge", offered)
		}
		if charged != acquired {
			t.Fatalf("charged %d, acquired %d", charged, acquired)
		}
		arrived := int64(r.read)
		if bound := max(int64(FirstChunk), 2*arrived); acquired > bound {
			t.Fatalf("acquired %d bytes with %d arrived (bound %d)", acquired, arrived, bound)
		}
		if len(in) >= 4 {
			if n := int32(binary.BigEndian.Uint32(in)); (n <= 0 || n > limit) && (err == nil || acquired != 0) {
				t.Fatalf("size %d: err %v, acquired %d; want a refusal before any allocation", n, err, acquired)
			}
		}
		if err == nil {
			n := int(binary.BigEndian.Uint32(in))
			if len(got) != n || n > limit || !bytes.Equal(got, in[4:4+n]) {
				t.Fatalf("frame of %d bytes for size %d from %d input bytes", len(got), n, len(in))
			}
		}
	})
}

// chunkReader returns at most n bytes per Read, as a network connection may.
type chunkReader struct {
	b    []byte
	n    int
	read int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	m := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[m:]
	r.read += m
	return m, nil
}
