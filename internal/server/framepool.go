package server

import (
	"math/bits"
	"sync"
)

// framePool recycles the read buffers of Produce requests. A produce frame
// is up to a megabyte per partition of records that phase one copies into
// the log's page cache; allocating (and zeroing) a fresh one per request,
// then having the garbage collector and the scavenger take it back, cost
// about a third of the broker's CPU under a flat-out producer. Only Produce
// frames come back: other requests' decoded bodies alias their frame and
// may outlive the reply (a JoinGroup's member metadata is kept by the
// group), but nothing keeps a reference to a produce's record bytes once
// its reply is written.
//
// Buffers are kept in power-of-two classes by capacity, from 16 KiB to
// 16 MiB (a client writing to eight partitions of one broker sends 8 MiB
// frames). It is a plain free list, not a sync.Pool: the garbage collection
// these very allocations trigger would empty a sync.Pool every few
// requests. At most maxPooledBytes stay pooled (idle memory is bounded).
type framePool struct {
	mu    sync.Mutex
	free  [maxFrameClass - minFrameClass + 1][][]byte
	bytes int
}

const (
	minFrameClass  = 14 // 16 KiB: smaller frames are cheap to allocate
	maxFrameClass  = 24 // 16 MiB
	minPooledFrame = 1 << minFrameClass
	maxPooledBytes = 48 << 20
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
	p.mu.Lock()
	defer p.mu.Unlock()
	// A frame's buffer is as big as the frame (ReadFrame grows it to
	// exactly n), so the next frame of about the same size finds its
	// match in the class below n's: look there first, at buffers that
	// happen to hold n, then in the classes whose buffers all do.
	c := bits.Len(uint(n - 1)) // smallest class whose buffers all hold n
	if c-1 >= minFrameClass {
		l := p.free[c-1-minFrameClass]
		for i := len(l) - 1; i >= 0; i-- {
			if cap(l[i]) >= n {
				return p.take(c-1, i)
			}
		}
	}
	for ; c <= maxFrameClass; c++ {
		if l := p.free[c-minFrameClass]; len(l) > 0 {
			return p.take(c, len(l)-1)
		}
	}
	return nil
}

// take removes buffer i of class c. REQUIRES: p.mu held.
func (p *framePool) take(c, i int) []byte {
	l := p.free[c-minFrameClass]
	b := l[i]
	last := len(l) - 1
	l[i], l[last] = l[last], nil
	p.free[c-minFrameClass] = l[:last]
	p.bytes -= cap(b)
	return b[:0]
}

// put offers a produce frame's buffer for reuse. The caller must hold no
// reference to it (or to anything decoded from it) any more.
func (p *framePool) put(b []byte) {
	c := bits.Len(uint(cap(b))) - 1 // largest class it fully holds
	if c < minFrameClass {
		return
	}
	c = min(c, maxFrameClass)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes+cap(b) > maxPooledBytes {
		return
	}
	p.free[c-minFrameClass] = append(p.free[c-minFrameClass], b[:0])
	p.bytes += cap(b)
}
