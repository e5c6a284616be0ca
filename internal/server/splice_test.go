package server

import (
	"bytes"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/wire"
)

// connPair returns a server-side Conn writing to a peer the test reads:
// over loopback TCP (the sendfile path) or a pipe (the copying path).
func connPair(t *testing.T, tcp bool) (*Conn, net.Conn) {
	t.Helper()
	if !tcp {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return &Conn{nc: a, srv: &Server{log: slog.New(slog.DiscardHandler)}}, b
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return &Conn{nc: server, srv: &Server{log: slog.New(slog.DiscardHandler)}}, client
}

// A spliced fetch response is byte for byte what kmsg writes for the same
// response with the region bytes in place, at every Fetch version the broker
// serves, over sendfile (TCP) and the copying path (anything else); and the
// regions are released.
func TestSplicedMatchesEncoding(t *testing.T) {
	file := filepath.Join(t.TempDir(), "segment.log")
	data := make([]byte, 3<<20)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tcp := range []bool{true, false} {
		for v := int16(4); v <= 18; v++ {
			c, peer := connPair(t, tcp)
			for round := range 3 {
				resp := kmsg.NewPtrFetchResponse()
				resp.Version = v
				want := kmsg.NewPtrFetchResponse()
				want.Version = v
				var regions []FileRegion
				var released atomic.Int32
				for ti := range 1 + rng.IntN(3) {
					st := kmsg.NewFetchResponseTopic()
					st.Topic = "topic-" + string(rune('a'+ti))
					st.TopicID[0] = byte(ti + 1)
					for pi := range 1 + rng.IntN(4) {
						sp := kmsg.NewFetchResponseTopicPartition()
						sp.Partition = int32(pi)
						sp.HighWatermark = rng.Int64N(1 << 40)
						sp.RecordBatches = []byte{}
						wp := sp
						if rng.IntN(4) > 0 {
							n := rng.IntN(300 << 10) // up to 300 KiB: compact lengths of 1-3 bytes
							if rng.IntN(2) == 0 {
								n = rng.IntN(sendfileMin) // gathered into the writes, not sent with sendfile
							}
							pos := rng.Int64N(int64(len(data) - n))
							sp.RecordBatches = Placeholder(len(regions))
							wp.RecordBatches = data[pos : pos+int64(n)]
							regions = append(regions, FileRegion{File: f, Pos: pos, Len: n, Release: func() { released.Add(1) }})
						}
						st.Partitions = append(st.Partitions, sp)
						wt := &want.Topics
						if len(*wt) <= ti {
							wst := st
							wst.Partitions = nil
							*wt = append(*wt, wst)
						}
						(*wt)[ti].Partitions = append((*wt)[ti].Partitions, wp)
					}
					resp.Topics = append(resp.Topics, st)
				}
				flex := resp.IsFlexible()
				wantFrame := wire.AppendResponse(nil, int32(round), flex, want)
				got := make(chan []byte, 1)
				go func() {
					b := make([]byte, len(wantFrame))
					_, err := io.ReadFull(peer, b)
					if err != nil {
						b = nil
					}
					got <- b
				}()
				sr := &Spliced{Response: resp, Regions: regions}
				if _, n, err := c.writeSpliced(nil, int32(round), flex, sr); err != nil || n != len(wantFrame) {
					t.Fatalf("tcp %v v%d: writeSpliced: %d bytes, %v; want %d", tcp, v, n, err, len(wantFrame))
				}
				if b := <-got; !bytes.Equal(b, wantFrame) {
					t.Fatalf("tcp %v v%d round %d: spliced frame differs from kmsg's encoding", tcp, v, round)
				}
				if int(released.Load()) != len(regions) {
					t.Fatalf("tcp %v v%d: %d of %d regions released", tcp, v, released.Load(), len(regions))
				}
			}
		}
	}
}

// A placeholder the writer cannot find where it belongs fails the write
// (the connection closes) instead of sending wrong bytes.
func TestSplicedRefusesMissingPlaceholder(t *testing.T) {
	c, _ := connPair(t, true)
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 12
	st := kmsg.NewFetchResponseTopic()
	sp := kmsg.NewFetchResponseTopicPartition()
	sp.RecordBatches = Placeholder(1) // region 0 expected first
	st.Partitions = append(st.Partitions, sp)
	resp.Topics = append(resp.Topics, st)
	var released atomic.Int32
	sr := &Spliced{Response: resp, Regions: []FileRegion{{Len: 10, Release: func() { released.Add(1) }}}}
	if _, _, err := c.writeSpliced(nil, 1, true, sr); err == nil {
		t.Fatal("writeSpliced with a misplaced placeholder succeeded")
	}
	if released.Load() != 1 {
		t.Fatal("region not released after a failed write")
	}
}

// A fetch does not copy its records through user space on plaintext: the
// bytes allocated to send 4 MiB of records are a small constant, not the
// records' size (a copy reintroduced anywhere on this path fails this).
func TestSplicedFetchDoesNotCopy(t *testing.T) {
	file := filepath.Join(t.TempDir(), "segment.log")
	const size = 4 << 20
	if err := os.WriteFile(file, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, peer := connPair(t, true)
	go io.Copy(io.Discard, peer)
	send := func() {
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = 16
		st := kmsg.NewFetchResponseTopic()
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.RecordBatches = Placeholder(0)
		st.Partitions = append(st.Partitions, sp)
		resp.Topics = append(resp.Topics, st)
		sr := &Spliced{Response: resp, Regions: []FileRegion{{File: f, Pos: 0, Len: size}}}
		if _, _, err := c.writeSpliced(nil, 1, true, sr); err != nil {
			t.Fatal(err)
		}
	}
	send()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 10
	for range n {
		send()
	}
	runtime.ReadMemStats(&after)
	perFetch := (after.TotalAlloc - before.TotalAlloc) / n
	t.Logf("%d bytes allocated per 4 MiB fetch", perFetch)
	if perFetch > 64<<10 {
		t.Errorf("sending a 4 MiB fetch allocated %d bytes: the records are copied through user space", perFetch)
	}
}
