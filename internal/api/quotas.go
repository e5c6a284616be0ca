package api

// DescribeClientQuotas and AlterClientQuotas (KIP-546): quotas per user,
// client id and IP, stored as metadata and enforced by internal/quota.
// Describing needs DESCRIBE_CONFIGS on the cluster, altering ALTER_CONFIGS.

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/quota"
	"github.com/samsa-io/samsa/internal/server"
)

func (a *API) handleDescribeClientQuotas(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	if !a.authorizedCluster(c, kmsg.ACLOperationDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr("describing client quotas needs DESCRIBE_CONFIGS on the cluster")
		return server.Ready(resp), nil
	}
	var filter []quota.FilterComponent
	for _, comp := range req.Components {
		fc := quota.FilterComponent{EntityType: comp.EntityType, MatchType: int8(comp.MatchType)}
		switch {
		case fc.MatchType == quota.MatchExact && comp.Match == nil,
			fc.MatchType != quota.MatchExact && comp.Match != nil:
			resp.ErrorCode = kerr.InvalidRequest.Code
			resp.ErrorMessage = kmsg.StringPtr("a match string goes with match type EXACT (0) only")
			return server.Ready(resp), nil
		case comp.Match != nil:
			fc.Match = *comp.Match
		}
		filter = append(filter, fc)
	}
	all := map[quota.Entity]quota.Values{}
	for _, e := range a.b.MetadataState().Security.Quotas {
		all[quotaEntityOf(e.Entity)] = quota.Values(e.Values)
	}
	found, err := quota.Describe(all, filter, req.Strict)
	if err != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		if errors.Is(err, quota.ErrUnsupportedEntityType) {
			resp.ErrorCode = kerr.UnsupportedVersion.Code
		}
		resp.ErrorMessage = kmsg.StringPtr(err.Error())
		return server.Ready(resp), nil
	}
	entities := make([]quota.Entity, 0, len(found))
	for e := range found {
		entities = append(entities, e)
	}
	slices.SortFunc(entities, func(x, y quota.Entity) int { return strings.Compare(x.String(), y.String()) })
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	for _, e := range entities {
		en := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, part := range entityParts(e) {
			p := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			p.Type, p.Name = part.typ, part.name
			en.Entity = append(en.Entity, p)
		}
		keys := make([]string, 0, len(found[e]))
		for k := range found[e] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, found[e][k]
			en.Values = append(en.Values, v)
		}
		resp.Entries = append(resp.Entries, en)
	}
	return server.Ready(resp), nil
}

type entityPart struct {
	typ  string
	name *string // nil: <default>
}

func entityParts(e quota.Entity) []entityPart {
	var out []entityPart
	add := func(has, def bool, typ, name string) {
		if !has {
			return
		}
		p := entityPart{typ: typ}
		if !def {
			n := name
			p.name = &n
		}
		out = append(out, p)
	}
	add(e.HasUser, e.DefaultUser, quota.EntityUser, e.User)
	add(e.HasClient, e.DefaultClient, quota.EntityClientID, e.ClientID)
	add(e.HasIP, e.DefaultIP, quota.EntityIP, e.IP)
	return out
}

// entityFrom builds an entity from a request's parts.
func entityFrom(parts []kmsg.AlterClientQuotasRequestEntryEntity) (quota.Entity, error) {
	var e quota.Entity
	seen := map[string]bool{}
	for _, p := range parts {
		if seen[p.Type] {
			return e, errors.New("entity names type " + p.Type + " twice")
		}
		seen[p.Type] = true
		name, def := "", p.Name == nil
		if !def {
			name = *p.Name
		}
		switch p.Type {
		case quota.EntityUser:
			e.HasUser, e.DefaultUser, e.User = true, def, name
		case quota.EntityClientID:
			e.HasClient, e.DefaultClient, e.ClientID = true, def, name
		case quota.EntityIP:
			e.HasIP, e.DefaultIP, e.IP = true, def, name
		default:
			return e, errors.New("unknown entity type " + p.Type + " (user, client-id or ip)")
		}
	}
	return e, nil
}

func (a *API) handleAlterClientQuotas(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	allowed := a.authorizedCluster(c, kmsg.ACLOperationAlterConfigs)
	var recs []metadata.Record
	var pending []int
	for _, en := range req.Entries {
		r := kmsg.NewAlterClientQuotasResponseEntry()
		for _, p := range en.Entity {
			rp := kmsg.NewAlterClientQuotasResponseEntryEntity()
			rp.Type, rp.Name = p.Type, p.Name
			r.Entity = append(r.Entity, rp)
		}
		fail := func(code *kerr.Error, msg string) {
			r.ErrorCode, r.ErrorMessage = code.Code, kmsg.StringPtr(msg)
		}
		e, err := entityFrom(en.Entity)
		switch {
		case !allowed:
			fail(kerr.ClusterAuthorizationFailed, "altering client quotas needs ALTER_CONFIGS on the cluster")
		case err != nil:
			fail(kerr.InvalidRequest, err.Error())
		default:
			ch := metadata.QuotaChange{Entity: metadataQuotaEntity(e), Set: map[string]float64{}}
			for _, op := range en.Ops {
				if err = quota.ValidKey(op.Key, e); err == nil && !op.Remove {
					err = quota.ValidValue(op.Key, op.Value)
				}
				if err != nil {
					break
				}
				if op.Remove {
					ch.Remove = append(ch.Remove, op.Key)
				} else {
					ch.Set[op.Key] = op.Value
				}
			}
			if err == nil && len(en.Ops) == 0 {
				err = quota.ValidKey(quota.KeyProducerByteRate, e) // still check the entity
				if e.HasIP {
					err = quota.ValidKey(quota.KeyConnectionCreationRate, e)
				}
			}
			switch {
			case err != nil:
				fail(kerr.InvalidRequest, err.Error())
			case !req.ValidateOnly && (len(ch.Set) > 0 || len(ch.Remove) > 0):
				recs = append(recs, metadata.Record{Type: metadata.RecordAlterQuotas, Quota: &ch})
				pending = append(pending, len(resp.Entries))
			}
		}
		resp.Entries = append(resp.Entries, r)
	}
	if len(recs) > 0 {
		if err := a.b.ApplySecurity(recs...); err != nil {
			code, msg := securityWriteError(err)
			for _, i := range pending {
				resp.Entries[i].ErrorCode, resp.Entries[i].ErrorMessage = code, kmsg.StringPtr(msg)
			}
		} else {
			a.syncQuotas()
			a.lg.Info("client quotas altered", "principal", c.Principal(), "entities", len(recs))
		}
	}
	return server.Ready(resp), nil
}
