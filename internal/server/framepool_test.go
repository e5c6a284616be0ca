package server

import (
	"testing"

	"github.com/samsa-io/samsa/internal/wire"
)

// The pool hands out only buffers that hold the asked size, never
// allocates on get, and keeps nothing below its smallest class.
func TestFramePool(t *testing.T) {
	var p framePool
	if b := p.get(100 << 10); b != nil {
		t.Fatalf("empty pool returned a buffer of cap %d", cap(b))
	}
	p.put(make([]byte, 1000))     // below the smallest class: dropped
	p.put(make([]byte, 0, 70000)) // class 16 (64 KiB)
	p.put(make([]byte, 5, wire.FirstChunk))
	tests := []struct {
		n       int
		minCap  int
		wantBuf bool
	}{
		{n: 1000, wantBuf: false}, // too small to pool
		{n: 65536, minCap: 65536, wantBuf: true},
		{n: 65537, minCap: 65537, wantBuf: true},               // only the 1 MiB one holds it
		{n: 64 << 20, minCap: wire.FirstChunk, wantBuf: false}, // both taken by now
	}
	for _, tt := range tests {
		b := p.get(tt.n)
		if (b != nil) != tt.wantBuf {
			t.Fatalf("get(%d) = cap %d, want a buffer: %v", tt.n, cap(b), tt.wantBuf)
		}
		if b != nil && (cap(b) < min(tt.n, wire.FirstChunk) || len(b) != 0) {
			t.Fatalf("get(%d) = len %d cap %d", tt.n, len(b), cap(b))
		}
	}
	if n := testing.AllocsPerRun(100, func() { p.get(200 << 10) }); n != 0 {
		t.Fatalf("get on an empty class allocates %v times", n)
	}
	// A buffer as big as a frame serves the next frame of that size,
	// though its class only promises less.
	p.put(make([]byte, 0, 8_300_000))
	if b := p.get(8_300_000); cap(b) != 8_300_000 {
		t.Fatalf("get(8300000) after put of that size = cap %d", cap(b))
	}
	// Idle memory is bounded: puts beyond maxPooledBytes are dropped.
	for range 2 * maxPooledBytes / (1 << maxFrameClass) {
		p.put(make([]byte, 0, 1<<maxFrameClass))
	}
	if p.bytes > maxPooledBytes {
		t.Fatalf("pool holds %d bytes, bound %d", p.bytes, maxPooledBytes)
	}
}
