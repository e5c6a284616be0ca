// Package wire is Kafka's framing and request-header codec, and nothing else:
// no I/O policy, no handlers, nothing of samsa's.
//
// Every request and response on a Kafka connection is a frame:
//
//	+----------------+----------------------------------------+
//	| size int32 (BE)| size bytes: header, then the body      |
//	+----------------+----------------------------------------+
//
// A request header is one of three versions, chosen by the API key and
// version of the request it precedes:
//
//	v0: api_key int16 | api_version int16 | correlation_id int32
//	v1: v0 | client_id nullable string (int16 length, -1 = null)
//	v2: v1 | tagged fields (KIP-482, for "flexible" versions)
//
// A response header is correlation_id int32, followed by tagged fields
// (header v1) when the request was flexible — except ApiVersions, whose
// response header is always v0 (the client cannot yet know whether we
// speak flexible headers).
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	// ErrFrameTooLarge: the size prefix exceeds the configured limit
	// (socket.request.max.bytes). Nothing is allocated for such a frame.
	ErrFrameTooLarge = errors.New("wire: frame larger than the limit")
	// ErrBadFrameSize: a zero or negative size prefix.
	ErrBadFrameSize = errors.New("wire: invalid frame size")
	// ErrTruncatedHeader: the frame ends inside the request header.
	ErrTruncatedHeader = errors.New("wire: truncated request header")
	// ErrUnknownKey: an API key kmsg does not know; its header version, and
	// so where its body starts, cannot be known.
	ErrUnknownKey = errors.New("wire: unknown api key")
)

// FirstChunk is how much of a frame ReadFrame allocates before its bytes
// arrive. Almost every request fits; bigger ones grow as their bytes come in.
const FirstChunk = 1 << 20

// ReadFrame reads one size-prefixed frame from r into a fresh buffer and
// returns the frame body without the size. It is the server's reader (and
// the tests' client-side one), fuzzed by FuzzReadFrame.
//
// Memory follows the bytes that actually arrive, never the size a peer
// claims: the size is checked against max before anything is allocated,
// the buffer starts at min(size, FirstChunk) and doubles as it fills. Each
// growth is first asked of acquire (nil: no budget), the server's
// broker-wide request budget, which may wait: that is the backpressure. So
// a client that announces a 100 MiB frame and sends nothing holds 1 MiB,
// not 100. charged is what acquire granted, also on error: the caller
// releases it when done with the frame.
func ReadFrame(r io.Reader, max int32, acquire func(n int64) error) (frame []byte, charged int64, err error) {
	return ReadFrameInto(r, max, acquire, nil)
}

// ReadFrameInto is ReadFrame reading into a recycled buffer when reuse
// offers one: reuse(n) is called once the size n has passed the checks and
// returns an empty buffer, ideally with room for n, or nil; it is used if it
// holds at least the first chunk, else a fresh one is. It must return memory that already exists (a pool), never
// allocate for n: the claim is not trusted until its bytes arrive. The
// budget is charged exactly as for a fresh buffer, so reuse changes where
// the bytes land, not what a peer may hold.
func ReadFrameInto(r io.Reader, max int32, acquire func(n int64) error, reuse func(n int) []byte) (frame []byte, charged int64, err error) {
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return nil, 0, err
	}
	n := int(int32(binary.BigEndian.Uint32(sz[:])))
	if n <= 0 {
		return nil, 0, fmt.Errorf("%w: %d", ErrBadFrameSize, n)
	}
	if n > int(max) {
		return nil, 0, fmt.Errorf("%w: %d bytes > limit %d", ErrFrameTooLarge, n, max)
	}
	var buf, recycled []byte
	if reuse != nil {
		recycled = reuse(n)
	}
	// limit is how far the buffer may be filled: what has been charged.
	limit := 0
	for len(buf) < n {
		if len(buf) == limit {
			grow := min(n, max2(FirstChunk, 2*limit)) - limit
			if acquire != nil {
				if err := acquire(int64(grow)); err != nil {
					return nil, charged, err
				}
			}
			charged += int64(grow)
			limit += grow
			switch {
			case cap(buf) >= limit:
			case buf == nil && cap(recycled) >= limit:
				buf = recycled[:0]
			default:
				nb := make([]byte, len(buf), limit)
				copy(nb, buf)
				buf = nb
			}
		}
		m, err := r.Read(buf[len(buf):limit])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, charged, err
		}
	}
	return buf, charged, nil
}

// max2 is the builtin max under another name: ReadFrame's parameter shadows it.
func max2(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// RequestHeader is a decoded request header.
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	// ClientID is the client's self-chosen name; "" when null.
	ClientID string
	// Flexible reports whether the header was v2 (and so the response
	// header must carry tagged fields, except for ApiVersions).
	Flexible bool
}

// headerFlexible reports whether a request of this key and version uses
// request header v2. It is true exactly when the request body is flexible
// (KIP-482). The one historical exception, ControlledShutdown v0 with header
// v0, is an inter-broker API no client sends.
func headerFlexible(key, version int16) (bool, bool) {
	req := kmsg.RequestForKey(key)
	if req == nil {
		return false, false
	}
	req.SetVersion(version)
	return req.IsFlexible(), true
}

// ParseRequestHeader decodes the header at the start of frame and returns
// it with the remaining body bytes (a sub-slice of frame).
//
// A version above what kmsg knows still parses when the key is known: its
// header version is taken as flexible iff the highest known version is, which
// is what KIP-511 relies on for ApiVersions probes from newer clients.
func ParseRequestHeader(frame []byte) (RequestHeader, []byte, error) {
	var h RequestHeader
	if len(frame) < 8 {
		return h, nil, ErrTruncatedHeader
	}
	h.APIKey = int16(binary.BigEndian.Uint16(frame[0:]))
	h.APIVersion = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	b := frame[8:]

	req := kmsg.RequestForKey(h.APIKey)
	if req == nil {
		return h, nil, fmt.Errorf("%w: %d", ErrUnknownKey, h.APIKey)
	}
	v := h.APIVersion
	if v > req.MaxVersion() {
		v = req.MaxVersion()
	}
	if v < 0 {
		v = 0
	}
	h.Flexible, _ = headerFlexible(h.APIKey, v)

	// client_id: nullable string with int16 length (never compact, even in
	// header v2, for compatibility with pre-flexible parsers).
	if len(b) < 2 {
		return h, nil, ErrTruncatedHeader
	}
	n := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n > 0 {
		if len(b) < int(n) {
			return h, nil, ErrTruncatedHeader
		}
		h.ClientID = string(b[:n])
		b = b[n:]
	} else if n < -1 {
		return h, nil, fmt.Errorf("%w: client id length %d", ErrTruncatedHeader, n)
	}

	if h.Flexible {
		rest, err := skipTags(b)
		if err != nil {
			return h, nil, err
		}
		b = rest
	}
	return h, b, nil
}

// skipTags skips a tagged-field section: uvarint count, then per field a
// uvarint tag, a uvarint size and size bytes. The header defines no tags we
// use, so they are checked for bounds and dropped.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, ErrTruncatedHeader
	}
	b = b[n:]
	if count > uint64(len(b)) { // each field takes at least two bytes
		return nil, fmt.Errorf("%w: %d tagged fields in %d bytes", ErrTruncatedHeader, count, len(b))
	}
	for i := uint64(0); i < count; i++ {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, ErrTruncatedHeader
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, ErrTruncatedHeader
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// AppendResponse appends a whole response frame (size, header, body) to dst.
// flexibleHeader selects response header v1 (correlation id + empty tagged
// fields); the caller decides, because ApiVersions always uses v0.
func AppendResponse(dst []byte, correlationID int32, flexibleHeader bool, resp kmsg.Response) []byte {
	start := len(dst)
	if hint := SizeHint(resp); cap(dst)-len(dst) < hint {
		// Grow once: a fetch response of several MB would otherwise be
		// regrown and copied a handful of times while encoding.
		dst = append(make([]byte, 0, len(dst)+hint), dst...)
	}
	dst = append(dst, 0, 0, 0, 0) // size, patched below
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if flexibleHeader {
		dst = append(dst, 0) // no tagged fields
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// AppendRequest appends a request frame with header v1 or v2 (as the
// request's version requires): the follower fetchers' requests to leaders,
// tests and fuzz seeds.
func AppendRequest(dst []byte, correlationID int32, clientID *string, req kmsg.Request) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.Key()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.GetVersion()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if clientID == nil {
		dst = binary.BigEndian.AppendUint16(dst, 0xffff)
	} else {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(*clientID)))
		dst = append(dst, *clientID...)
	}
	if req.IsFlexible() {
		dst = append(dst, 0)
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// SizeHint estimates the encoded size of resp where it is dominated by
// record bytes (fetch responses); 0 means "no estimate".
func SizeHint(resp kmsg.Response) int {
	f, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return 0
	}
	n := 64
	for i := range f.Topics {
		t := &f.Topics[i]
		n += 64 + len(t.Topic)
		for j := range t.Partitions {
			n += 96 + len(t.Partitions[j].RecordBatches)
		}
	}
	return n
}
