package server

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/samsa-io/samsa/internal/wire"
)

// Spliced is a response some of whose bytes fields are file regions: a
// fetch's record batches, sent from the segment files to the socket with
// sendfile(2) on a plaintext connection, so record bytes never pass through
// user space (on TLS they are read once, straight into the output buffer).
//
// The handler builds the response with Placeholder(i) as the value of the
// field that region i fills, in the order the fields are encoded, and
// returns a *Spliced as its Pending's response. The writer encodes the
// response, finds the placeholders and sends the regions in their place.
// It releases every region after writing (or failing to).
type Spliced struct {
	kmsg.Response
	Regions []FileRegion
}

// FileRegion is Len bytes at Pos of File. Release, when set, is called once
// the bytes are sent (the file must stay open until then).
type FileRegion struct {
	File    *os.File
	Pos     int64
	Len     int
	Release func()
}

// Bytes is the total length of the regions.
func (s *Spliced) Bytes() int {
	n := 0
	for _, r := range s.Regions {
		n += r.Len
	}
	return n
}

// Release releases every region (the writer does; a caller that does not
// write the response must).
func (s *Spliced) Release() {
	for i := range s.Regions {
		if rel := s.Regions[i].Release; rel != nil {
			s.Regions[i].Release = nil
			rel()
		}
	}
}

// A placeholder is placeholderNonce, then "SMRG" and the region's index:
// 16 bytes that a response's other fields cannot plausibly hold (the nonce
// is random per process). A placeholder not found exactly where expected
// fails the write (the connection closes) rather than sending wrong bytes.
const placeholderLen = 16

var placeholderNonce = func() [8]byte {
	var b [8]byte
	rand.Read(b[:]) // never fails (Go 1.24+: it crashes the program instead)
	return b
}()

// Placeholder returns the value to put where region i goes.
func Placeholder(i int) []byte {
	b := make([]byte, placeholderLen)
	copy(b, placeholderNonce[:])
	copy(b[8:], "SMRG")
	binary.BigEndian.PutUint32(b[12:], uint32(i))
	return b
}

// splice is where one placeholder sits in the encoded frame: the length
// prefix of its bytes field starts at prefix, the placeholder ends at end.
type splice struct{ prefix, end int }

// findPlaceholders locates the k placeholders in frame, in order, each
// preceded by its length prefix: a compact uvarint (16+1) in flexible
// versions, an int32 16 before.
func findPlaceholders(frame []byte, k int, flexible bool) ([]splice, error) {
	out := make([]splice, 0, k)
	from := 0
	for i := range k {
		j := bytes.Index(frame[from:], placeholderNonce[:])
		if j < 0 {
			return nil, fmt.Errorf("placeholder %d of %d not found", i, k)
		}
		at := from + j
		if at+placeholderLen > len(frame) || string(frame[at+8:at+12]) != "SMRG" || binary.BigEndian.Uint32(frame[at+12:]) != uint32(i) {
			return nil, fmt.Errorf("placeholder %d: unexpected bytes at %d", i, at)
		}
		prefix := at - 4
		if flexible {
			prefix = at - 1
			if prefix < 0 || frame[prefix] != placeholderLen+1 {
				return nil, fmt.Errorf("placeholder %d: no compact length before it", i)
			}
		} else if prefix < 0 || binary.BigEndian.Uint32(frame[prefix:]) != placeholderLen {
			return nil, fmt.Errorf("placeholder %d: no length before it", i)
		}
		out = append(out, splice{prefix: prefix, end: at + placeholderLen})
		from = at + placeholderLen
	}
	return out, nil
}

// appendLength appends the length prefix of an n-byte bytes field.
func appendLength(b []byte, n int, flexible bool) []byte {
	if flexible {
		return binary.AppendUvarint(b, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

// writeSpliced writes sr as the reply to correlation id corr. frame is a
// scratch buffer; it returns it (possibly grown) and the bytes written.
func (c *Conn) writeSpliced(frame []byte, corr int32, flexHeader bool, sr *Spliced) ([]byte, int, error) {
	defer sr.Release()
	frame = wire.AppendResponse(frame[:0], corr, flexHeader, sr.Response)
	flexible := sr.Response.IsFlexible()
	spl, err := findPlaceholders(frame, len(sr.Regions), flexible)
	if err != nil {
		return frame, 0, err
	}
	// The frame's size, with each placeholder replaced by its region.
	size := len(frame) - 4
	for i, s := range spl {
		size += len(appendLength(nil, sr.Regions[i].Len, flexible)) + sr.Regions[i].Len - (s.end - s.prefix)
	}
	binary.BigEndian.PutUint32(frame, uint32(size))
	if tc, ok := c.nc.(*net.TCPConn); ok {
		return frame, 4 + size, c.sendSpliced(tc, frame, spl, sr.Regions, flexible)
	}
	// TLS (or a test's pipe): one buffer, each region read straight into
	// its place: one copy from the page cache, none through a scratch.
	out := getBigBuf(4 + size)
	defer putBigBuf(out)
	b := (*out)[:0]
	last := 0
	for i, s := range spl {
		b = append(b, frame[last:s.prefix]...)
		b = appendLength(b, sr.Regions[i].Len, flexible)
		n := len(b)
		b = b[:n+sr.Regions[i].Len]
		if err := readRegion(sr.Regions[i], b[n:]); err != nil {
			return frame, 0, err
		}
		last = s.end
	}
	b = append(b, frame[last:]...)
	*out = b[:0]
	if len(b) != 4+size {
		return frame, 0, fmt.Errorf("spliced frame of %d bytes, expected %d", len(b), 4+size)
	}
	_, err = c.nc.Write(b)
	return frame, len(b), err
}

// sendfileMin is the smallest region sent with sendfile: a smaller one is
// read into the pending bytes instead, so that a fetch of many partitions
// with a little data each is a few writes, not three syscalls a partition.
const sendfileMin = 16 << 10

// sendSpliced writes the frame's bytes around the placeholders, gathered
// with the small regions into as few writes as possible, and the large
// regions with sendfile.
func (c *Conn) sendSpliced(tc *net.TCPConn, frame []byte, spl []splice, regions []FileRegion, flexible bool) error {
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	out := c.gather[:0]
	defer func() {
		if cap(out) <= 1<<20 { // keep a small one for the next fetch
			c.gather = out[:0]
		}
	}()
	last := 0
	for i, s := range spl {
		out = append(out, frame[last:s.prefix]...)
		out = appendLength(out, regions[i].Len, flexible)
		last = s.end
		if regions[i].Len < sendfileMin {
			n := len(out)
			out = append(out, make([]byte, regions[i].Len)...)
			if err := readRegion(regions[i], out[n:]); err != nil {
				return err
			}
			continue
		}
		if _, err := tc.Write(out); err != nil {
			return err
		}
		out = out[:0]
		if err := sendfile(rc, regions[i]); err != nil {
			return err
		}
	}
	out = append(out, frame[last:]...)
	_, err = tc.Write(out)
	return err
}

// errShortFile: a region ran past the end of its file (a truncation raced
// the fetch). The frame is then broken: the connection must close.
var errShortFile = errors.New("server: region past the end of its file")

// sendfile sends r through the socket behind rc with sendfile(2), waiting
// on the poller when the socket buffer is full. The file's offset is never
// used (several fetches share one descriptor): the offset is explicit.
func sendfile(rc interface {
	Write(func(fd uintptr) (done bool)) error
}, r FileRegion) error {
	frc, err := r.File.SyscallConn()
	if err != nil {
		return err
	}
	off, remain := r.Pos, r.Len
	for remain > 0 {
		var n int
		var serr error
		werr := rc.Write(func(sock uintptr) bool {
			cerr := frc.Control(func(f uintptr) {
				n, serr = unix.Sendfile(int(sock), int(f), &off, remain)
			})
			if cerr != nil {
				serr = cerr
			}
			return serr != unix.EAGAIN // EAGAIN: wait until writable
		})
		if werr != nil {
			return werr
		}
		switch {
		case serr == unix.EINTR:
			continue
		case serr != nil:
			return fmt.Errorf("sendfile %s: %w", r.File.Name(), serr)
		case n == 0:
			return fmt.Errorf("%w: %s at %d", errShortFile, r.File.Name(), off)
		}
		remain -= n
	}
	return nil
}

// readRegion reads r into b (len(b) == r.Len).
func readRegion(r FileRegion, b []byte) error {
	if _, err := r.File.ReadAt(b, r.Pos); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: %s at %d", errShortFile, r.File.Name(), r.Pos)
		}
		return err
	}
	return nil
}
