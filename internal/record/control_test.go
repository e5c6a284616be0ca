package record

import "testing"

func TestMarkerRoundTrip(t *testing.T) {
	for _, commit := range []bool{true, false} {
		b := BuildMarker(42, 5, commit, 17, 123)
		h, err := Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Control() || !h.Transactional() || h.ProducerID != 42 || h.ProducerEpoch != 5 || h.BaseSequence != NoSequence {
			t.Fatalf("header %+v", h)
		}
		m, ok, err := DecodeMarker(b)
		if err != nil || !ok || m.Commit != commit || m.CoordinatorEpoch != 17 {
			t.Fatalf("commit=%v: got %+v ok=%v err=%v", commit, m, ok, err)
		}
	}
	if _, err := DecodeControlKey([]byte{0, 0}); err == nil {
		t.Fatal("short control key decoded")
	}
}
