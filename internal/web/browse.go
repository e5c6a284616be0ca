package web

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/samsa-io/samsa/internal/partition"
	"github.com/samsa-io/samsa/internal/record"
)

// Bounds of one message-browser page. A page reads at most
// maxBrowseBytes of batches (plus, at worst, one batch larger than that:
// a read returns at least one whole batch, bounded by max.message.bytes)
// and shows at most maxBrowseRecords records, each key, value and header
// value cut to maxShownBytes.
const (
	defaultBrowseRecords = 20
	maxBrowseRecords     = 200
	maxBrowseBytes       = 8 << 20
	browseReadBytes      = 1 << 20
	maxShownBytes        = 2048
)

// shownBytes is a key, value or header value ready for display: UTF-8 text
// when it is printable text, else hex. Both are escaped by html/template.
type shownBytes struct {
	Null      bool
	Text      string
	Hex       bool // Text is hex
	Size      int  // the full length, before truncation
	Truncated bool
}

type shownHeader struct {
	Key   string
	Value shownBytes
}

// message is one record as the browser shows it.
type message struct {
	Offset        int64
	Timestamp     time.Time
	LogAppendTime bool
	Key, Value    shownBytes
	Headers       []shownHeader
}

// browseResult is one page of the browser.
type browseResult struct {
	Messages []message
	From     int64 // the first offset asked for (after clamping)
	Next     int64 // where the next page starts
	// Truncated: the byte budget ran out before n records were found.
	Truncated bool
}

// errBrowseDone stops record.Split/ForEachRecord once the page is full.
var errBrowseDone = errors.New("web: page full")

// browse reads up to n committed records of p starting at from; from < 0
// means "the last n": it starts n offsets below the high watermark (fewer
// records may show when control records or compaction gaps fall in that
// range). Offsets are clamped to [log start, high watermark].
func browse(p *partition.Partition, from int64, n int) (browseResult, error) {
	n = min(max(n, 1), maxBrowseRecords)
	logStart, hw := p.LogStartOffset(), p.HighWatermark()
	if from < 0 {
		from = hw - int64(n)
	}
	from = min(max(from, logStart), hw)
	res := browseResult{From: from, Next: from}
	read := 0
	for off := from; off < hw && len(res.Messages) < n; {
		if read >= maxBrowseBytes {
			res.Truncated = true
			break
		}
		rr, err := p.Read(off, min(browseReadBytes, maxBrowseBytes-read), true)
		if err != nil {
			return res, fmt.Errorf("read %s-%d at offset %d: %w", p.Topic, p.Index, off, err)
		}
		if len(rr.Records) == 0 {
			break
		}
		read += len(rr.Records)
		next := off
		err = record.Split(rr.Records, func(h record.BatchHeader, batch []byte) error {
			next = max(next, h.NextOffset())
			if h.Control() {
				return nil // transaction markers are not messages
			}
			return record.ForEachRecord(batch, func(r record.Record) error {
				o := h.BaseOffset + int64(r.OffsetDelta)
				if o < from {
					return nil
				}
				if len(res.Messages) == n {
					return errBrowseDone
				}
				ts := h.FirstTimestamp + r.TimestampDelta
				if h.LogAppendTime() {
					ts = h.MaxTimestamp
				}
				m := message{Offset: o, Timestamp: time.UnixMilli(ts).UTC(), LogAppendTime: h.LogAppendTime(),
					Key: show(r.Key), Value: show(r.Value)}
				for _, hd := range r.Headers {
					m.Headers = append(m.Headers, shownHeader{Key: hd.Key, Value: show(hd.Value)})
				}
				res.Messages = append(res.Messages, m)
				res.Next = o + 1
				return nil
			})
		})
		if err != nil && !errors.Is(err, errBrowseDone) {
			return res, fmt.Errorf("decode %s-%d at offset %d: %w", p.Topic, p.Index, off, err)
		}
		if next <= off {
			break // no progress: never loop on a batch that does not advance
		}
		off = next
		if len(res.Messages) < n {
			res.Next = off
		}
	}
	return res, nil
}

// show prepares b for display. Text is shown as text when it is valid
// UTF-8 without control characters other than tab and newlines; anything
// else as hex, so that a binary value cannot garble the page.
func show(b []byte) shownBytes {
	if b == nil {
		return shownBytes{Null: true}
	}
	s := shownBytes{Size: len(b)}
	if printable(b) {
		if len(b) > maxShownBytes {
			cut := maxShownBytes
			for cut > 0 && !utf8.RuneStart(b[cut]) {
				cut--
			}
			b, s.Truncated = b[:cut], true
		}
		s.Text = string(b)
		return s
	}
	if len(b) > maxShownBytes/2 {
		b, s.Truncated = b[:maxShownBytes/2], true
	}
	s.Text, s.Hex = hex.EncodeToString(b), true
	return s
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if r == '\t' || r == '\n' || r == '\r' {
			continue
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}
