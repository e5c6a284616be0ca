package api

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDeclaredVersionsMatchKmsg fails when franz-go's kmsg and the declared
// ranges drift apart: a declared version kmsg cannot decode is a bug, and a
// version kmsg learned (a franz-go upgrade) that the handler does not
// declare must be implemented and declared, or consciously left out here.
func TestDeclaredVersionsMatchKmsg(t *testing.T) {
	// leftOut are versions kmsg knows that are consciously not served,
	// with the highest version served.
	leftOut := map[kmsg.Key]int16{
		kmsg.TxnOffsetCommit: 5, // v6 (topic ids) is newer than Kafka 4.1, which serves v0-v5
	}
	for key, v := range supportedVersions {
		name := kmsg.NameForKey(int16(key))
		req := kmsg.RequestForKey(int16(key))
		if req == nil {
			t.Errorf("%s: kmsg has no request for key %d", name, key)
			continue
		}
		if v.min < 0 || v.min > v.max {
			t.Errorf("%s: declared range v%d-v%d", name, v.min, v.max)
		}
		left, isLeftOut := leftOut[key]
		switch kmax := req.MaxVersion(); {
		case v.max > kmax:
			t.Errorf("%s: declared up to v%d but kmsg decodes only up to v%d", name, v.max, kmax)
		case kmax > v.max && isLeftOut && left == v.max:
		case kmax > v.max:
			t.Errorf("%s: kmsg now knows v%d but the handler is declared up to v%d: implement the new versions "+
				"(read the KIP and Kafka's schema for what changed), then raise supportedVersions", name, kmax, v.max)
		}
	}
}

// TestApiVersionsAdvertisesDeclared: ApiVersions, at every version, lists
// exactly the declared APIs with their declared ranges.
func TestApiVersionsAdvertisesDeclared(t *testing.T) {
	fb := startFetchBroker(t)
	for v := int16(0); v <= supportedVersions[kmsg.ApiVersions].max; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
		resp := fb.dial(t).do(req).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d: error %d", v, resp.ErrorCode)
		}
		if len(resp.ApiKeys) != len(supportedVersions) {
			t.Errorf("v%d: %d APIs advertised, %d declared", v, len(resp.ApiKeys), len(supportedVersions))
		}
		for _, k := range resp.ApiKeys {
			want, ok := supportedVersions[kmsg.Key(k.ApiKey)]
			if !ok || k.MinVersion != want.min || k.MaxVersion != want.max {
				t.Errorf("v%d: %s advertised v%d-v%d, declared %+v (declared: %v)", v, kmsg.NameForKey(k.ApiKey), k.MinVersion, k.MaxVersion, want, ok)
			}
		}
	}
}
