package log

import "fmt"

// Flush makes everything appended before the call durable and returns the
// durable offset (FlushedOffset).
//
// Group commit: one fsync round runs at a time, outside mu, so appends go on
// meanwhile. A caller that finds a round running waits for it; if that round
// covered the caller's data it returns, otherwise one of the waiters starts
// the next round, which covers every append made before it started. Under
// load, N concurrent Flush calls cost about two fsyncs, not N.
//
// A failed fsync is fatal: the error is sticky for Append, Flush and Read.
// Linux may drop dirty pages after reporting the failure, so a retry could
// "succeed" without the data (the PostgreSQL fsyncgate lesson).
func (l *Log) Flush() (flushedOffset int64, err error) {
	target := l.leo.Load()
	l.flushMu.Lock()
	for {
		if l.flushErr != nil {
			err := l.flushErr
			l.flushMu.Unlock()
			return l.flushed.Load(), err
		}
		// A TruncateTo may have dropped offsets below target: they no
		// longer need to be (and never will be) durable.
		target = min(target, l.leo.Load())
		if f := l.flushed.Load(); f >= target {
			l.flushMu.Unlock()
			return f, l.usable()
		}
		if !l.flushing {
			break
		}
		l.flushCond.Wait()
	}
	l.flushing = true
	l.flushMu.Unlock()

	err = l.syncRound()

	l.flushMu.Lock()
	l.flushing = false
	if err != nil {
		l.flushErr = err
	}
	l.flushCond.Broadcast()
	l.flushMu.Unlock()
	return l.flushed.Load(), err
}

// usable is usableLocked taking mu.
func (l *Log) usable() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.usableLocked()
}

// syncRound fsyncs the active segment's .log (and the directory if a segment
// was created since the last round) and publishes the LogEndOffset it read
// as flushed. Only the .log needs it: every older segment was fsynced whole
// when it rolled, and the active segment's indexes are rebuilt on Open.
// REQUIRES: l.flushing owned by the caller (so rounds do not overlap).
func (l *Log) syncRound() error {
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	v := l.viewLocked(l.activeLocked())
	target := l.leo.Load()
	dirDirty := l.mu.dirDirty
	l.mu.dirDirty = false
	gen := l.mu.truncations
	l.mu.Unlock()

	err := l.sync(v.seg.log)
	if err != nil {
		err = fmt.Errorf("fsync %s: %w", v.seg.logPath, err)
	} else if dirDirty {
		if err = l.syncDir(); err != nil {
			err = fmt.Errorf("fsync dir: %w", err)
		}
	}
	v.seg.release()

	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		return l.failLocked(err)
	}
	// A TruncateTo since the snapshot may have dropped offsets below
	// target; it already lowered flushed and made itself durable.
	if gen == l.mu.truncations && target > l.flushed.Load() {
		l.flushed.Store(target)
	}
	return nil
}
