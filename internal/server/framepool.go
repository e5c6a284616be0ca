package server

import (
	"math/bits"
	"sync"
)

// framePool recycles the read buffers of Produce requests. A produce frame
// is up to a megabyte of records that phase one copies into the log's page
// cache; allocating (and zeroing) a fresh one per request, then having the
// runtime scavenge it back, cost about a tenth of the broker's CPU under a
// flat-out producer. Only Produce frames come back: other requests' decoded
// bodies alias their frame and may outlive the reply (a JoinGroup's member
// metadata is kept by the group), but nothing keeps a reference to a
// produce's record bytes once its reply is written.
//
// Buffers are kept in power-of-two classes by capacity, from 16 KiB to
// 16 MiB (a produce request carries up to a megabyte per partition, so a
// client writing to eight partitions of one broker sends 8 MiB frames);
// sync.Pool drops them at GC, so idle memory is bounded.
type framePool struct {
	classes [maxFrameClass - minFrameClass + 1]sync.Pool
}

const (
	minFrameClass  = 14 // 16 KiB: smaller frames are cheap to allocate
	maxFrameClass  = 24 // 16 MiB
	minPooledFrame = 1 << minFrameClass
)

var frames framePool

// get returns a recycled buffer with room for n bytes (for the first 16 MiB
// of a bigger frame), or nil. It never allocates: n is a peer's unverified
// claim, and handing it memory that exists anyway costs nothing.
func (p *framePool) get(n int) []byte {
	n = min(n, 1<<maxFrameClass)
	if n < minPooledFrame {
		return nil
	}
	// The smallest class whose buffers all hold n, else a bigger one.
	for c := bits.Len(uint(n - 1)); c <= maxFrameClass; c++ {
		if b, ok := p.classes[c-minFrameClass].Get().(*[]byte); ok {
			return (*b)[:0]
		}
	}
	return nil
}

// put offers a produce frame's buffer for reuse. The caller must hold no
// reference to it (or to anything decoded from it) any more.
func (p *framePool) put(b []byte) {
	c := bits.Len(uint(cap(b))) - 1 // largest class it fully holds
	if c < minFrameClass {
		return
	}
	c = min(c, maxFrameClass)
	b = b[:0]
	p.classes[c-minFrameClass].Put(&b)
}
