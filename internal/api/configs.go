package api

// DescribeConfigs, AlterConfigs, IncrementalAlterConfigs.
//
// Resources: TOPIC (2) and BROKER (4); the broker's name is our node id as
// a string, or "" for the cluster-wide dynamic defaults. BROKER_LOGGER (8)
// is described as an empty list (samsa has no per-logger levels) and
// cannot be altered. Any other type, or another broker's id, is
// INVALID_REQUEST with a message.
//
// DescribeConfigs lists every config, or the requested names (null or
// empty = all; unknown names are left out, as in Kafka), each with its
// value and source (DYNAMIC_TOPIC_CONFIG for a topic override,
// STATIC_BROKER_CONFIG for the properties file, else DEFAULT_CONFIG). The
// cluster default ("") has no dynamic defaults to list, so it is empty.
// Sensitive values are null.
//
// AlterConfigs (the legacy API) replaces a topic's whole override set with
// the request's configs: anything not listed returns to its default, which
// is what Kafka does and why IncrementalAlterConfigs exists.
// IncrementalAlterConfigs applies SET, DELETE, APPEND and SUBTRACT on top
// of the current overrides; APPEND and SUBTRACT apply only to LIST configs
// (cleanup.policy) and start from the effective value. Both validate the
// result as a whole (INVALID_CONFIG naming the key) before anything is
// stored, and honour validate_only. Dynamic broker configs are not
// supported yet: BROKER resources get INVALID_REQUEST saying so.
//
// Version notes, DescribeConfigs: v0 is_default; v1 synonyms and sources;
// v3 config types and documentation; v4 flexible. AlterConfigs: v2
// flexible. IncrementalAlterConfigs: v1 flexible.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/server"
)

const brokerConfigsUnsupported = "dynamic broker configs are not supported yet; set broker configs in the properties file and restart"

// configDenied checks op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a config
// resource, as Kafka does: a topic's on the topic, a broker's (and its
// loggers') on the cluster. It returns the error code, 0 when allowed.
func (a *API) configDenied(c *server.Conn, op kmsg.ACLOperation, typ kmsg.ConfigResourceType, name string) int16 {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if !a.authorized(c, op, kmsg.ACLResourceTypeTopic, name) {
			return kerr.TopicAuthorizationFailed.Code
		}
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		if !a.authorizedCluster(c, op) {
			return kerr.ClusterAuthorizationFailed.Code
		}
	}
	return 0
}

func (a *API) handleDescribeConfigs(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		r := kmsg.NewDescribeConfigsResponseResource()
		r.ResourceType, r.ResourceName = rr.ResourceType, rr.ResourceName
		if code := a.configDenied(c, kmsg.ACLOperationDescribeConfigs, rr.ResourceType, rr.ResourceName); code != 0 {
			r.ErrorCode = code
			resp.Resources = append(resp.Resources, r)
			continue
		}
		entries, err := a.describeResource(rr)
		if err != nil {
			r.ErrorCode = errorCode(err)
			r.ErrorMessage = adminErrorMessage(err)
			resp.Resources = append(resp.Resources, r)
			continue
		}
		r.Configs = []kmsg.DescribeConfigsResponseResourceConfig{}
		for _, e := range entries {
			if len(rr.ConfigNames) > 0 && !slices.Contains(rr.ConfigNames, e.Name) {
				continue
			}
			r.Configs = append(r.Configs, describeEntry(e, req))
		}
		resp.Resources = append(resp.Resources, r)
	}
	return server.Ready(resp), nil
}

// describeResource returns every config entry of one resource.
func (a *API) describeResource(rr kmsg.DescribeConfigsRequestResource) ([]config.Entry, error) {
	cfg := a.b.Config()
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		t, err := a.configTopic(rr.ResourceName)
		if err != nil {
			return nil, err
		}
		return config.DescribeTopic(cfg, t.Overrides), nil
	case kmsg.ConfigResourceTypeBroker:
		if rr.ResourceName == "" {
			return nil, nil // no dynamic cluster-wide defaults exist
		}
		if err := a.checkBrokerName(rr.ResourceName); err != nil {
			return nil, err
		}
		return config.DescribeBroker(cfg), nil
	case kmsg.ConfigResourceTypeBrokerLogger:
		if err := a.checkBrokerName(rr.ResourceName); err != nil {
			return nil, err
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%w: config resource type %d (%s) is not supported", errInvalidRequest, rr.ResourceType, rr.ResourceType)
}

// describeEntry renders e for the request's version and options.
func describeEntry(e config.Entry, req *kmsg.DescribeConfigsRequest) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = e.Name
	if !e.ValueNull && !e.Sensitive {
		c.Value = kmsg.StringPtr(e.Value)
	}
	c.ReadOnly = e.ReadOnly
	c.IsSensitive = e.Sensitive
	c.Source = kmsg.ConfigSource(e.Source)
	c.IsDefault = e.Source == config.SourceDefault // v0 only
	c.ConfigType = kmsg.ConfigType(e.Type)
	if req.IncludeSynonyms {
		c.ConfigSynonyms = make([]kmsg.DescribeConfigsResponseResourceConfigConfigSynonym, 0, len(e.Synonyms))
		for _, s := range e.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name = s.Name
			if !e.Sensitive {
				cs.Value = kmsg.StringPtr(s.Value)
			}
			cs.Source = kmsg.ConfigSource(s.Source)
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	if req.IncludeDocumentation && e.Doc != "" {
		c.Documentation = kmsg.StringPtr(e.Doc)
	}
	return c
}

// configTopic returns the named topic, or an error that answers
// INVALID_TOPIC_EXCEPTION for an illegal name and
// UNKNOWN_TOPIC_OR_PARTITION for a missing one.
func (a *API) configTopic(name string) (*broker.Topic, error) {
	if err := broker.ValidateTopicName(name); err != nil {
		return nil, err
	}
	t := a.b.Topic(name)
	if t == nil {
		return nil, fmt.Errorf("%w: %q", broker.ErrUnknownTopic, name)
	}
	return t, nil
}

// checkBrokerName accepts our node id as a BROKER or BROKER_LOGGER
// resource name. A request for another broker was sent to the wrong one.
func (a *API) checkBrokerName(name string) error {
	node := a.b.Config().NodeID
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return fmt.Errorf("%w: broker resource name %q is not a broker id", errInvalidRequest, name)
	}
	if int32(id) != node {
		return fmt.Errorf("%w: unexpected broker id %d; this is broker %d (or use \"\" for the cluster default)", errInvalidRequest, id, node)
	}
	return nil
}

// checkAlterResource rejects what no alter request may change here: BROKER
// and BROKER_LOGGER resources (with the reason) and unknown types.
func (a *API) checkAlterResource(typ kmsg.ConfigResourceType, name string) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return nil
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		if name != "" {
			if err := a.checkBrokerName(name); err != nil {
				return err
			}
		}
		return fmt.Errorf("%w: %s", errInvalidRequest, brokerConfigsUnsupported)
	}
	return fmt.Errorf("%w: config resource type %d (%s) is not supported", errInvalidRequest, typ, typ)
}

// duplicateResources returns the resources listed more than once in one
// alter request; Kafka refuses all their copies.
func duplicateResources(n int, at func(int) (kmsg.ConfigResourceType, string)) map[string]bool {
	keys := make([]string, n)
	for i := range n {
		typ, name := at(i)
		keys[i] = resourceKey(typ, name)
	}
	return duplicates(keys)
}

func resourceKey(typ kmsg.ConfigResourceType, name string) string {
	return strconv.Itoa(int(typ)) + "/" + name
}

func (a *API) handleAlterConfigs(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	dup := duplicateResources(len(req.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return req.Resources[i].ResourceType, req.Resources[i].ResourceName
	})
	for _, rr := range req.Resources {
		r := kmsg.NewAlterConfigsResponseResource()
		r.ResourceType, r.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if code := a.configDenied(c, kmsg.ACLOperationAlterConfigs, rr.ResourceType, rr.ResourceName); code != 0 {
			r.ErrorCode = code
			resp.Resources = append(resp.Resources, r)
			continue
		}
		if dup[resourceKey(rr.ResourceType, rr.ResourceName)] {
			err = fmt.Errorf("%w: resource %s %q is listed more than once", errInvalidRequest, rr.ResourceType, rr.ResourceName)
		} else {
			err = a.alterConfigs(rr, req.ValidateOnly)
		}
		if err != nil {
			r.ErrorCode = errorCode(err)
			r.ErrorMessage = adminErrorMessage(err)
		}
		resp.Resources = append(resp.Resources, r)
	}
	return server.Ready(resp), nil
}

// alterConfigs replaces a topic's overrides with rr's configs.
func (a *API) alterConfigs(rr kmsg.AlterConfigsRequestResource, validateOnly bool) error {
	if err := a.checkAlterResource(rr.ResourceType, rr.ResourceName); err != nil {
		return err
	}
	if _, err := a.configTopic(rr.ResourceName); err != nil {
		return err
	}
	overrides := make(map[string]string, len(rr.Configs))
	for _, c := range rr.Configs {
		if c.Value == nil {
			return fmt.Errorf("%w: %s: a null value is not supported for topic configs", errInvalidRequest, c.Name)
		}
		if _, ok := overrides[c.Name]; ok {
			return fmt.Errorf("%w: config %s is given more than once", errInvalidRequest, c.Name)
		}
		overrides[c.Name] = *c.Value
	}
	return a.setTopicConfigs(rr.ResourceName, overrides, validateOnly)
}

func (a *API) setTopicConfigs(name string, overrides map[string]string, validateOnly bool) error {
	err := a.b.SetTopicConfigs(name, overrides, validateOnly)
	if err != nil && errorCode(err) == kerr.UnknownServerError.Code {
		a.lg.Warn("altering topic configs failed", "topic", name, "err", err)
	}
	return err
}

func (a *API) handleIncrementalAlterConfigs(_ context.Context, c *server.Conn, kreq kmsg.Request) (server.Pending, error) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	dup := duplicateResources(len(req.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return req.Resources[i].ResourceType, req.Resources[i].ResourceName
	})
	for _, rr := range req.Resources {
		r := kmsg.NewIncrementalAlterConfigsResponseResource()
		r.ResourceType, r.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if code := a.configDenied(c, kmsg.ACLOperationAlterConfigs, rr.ResourceType, rr.ResourceName); code != 0 {
			r.ErrorCode = code
			resp.Resources = append(resp.Resources, r)
			continue
		}
		if dup[resourceKey(rr.ResourceType, rr.ResourceName)] {
			err = fmt.Errorf("%w: resource %s %q is listed more than once", errInvalidRequest, rr.ResourceType, rr.ResourceName)
		} else {
			err = a.incrementalAlterConfigs(rr, req.ValidateOnly)
		}
		if err != nil {
			r.ErrorCode = errorCode(err)
			r.ErrorMessage = adminErrorMessage(err)
		}
		resp.Resources = append(resp.Resources, r)
	}
	return server.Ready(resp), nil
}

// incrementalAlterConfigs applies rr's operations to a topic's current
// overrides and stores the result, as one step (broker.UpdateTopicConfigs):
// concurrent alters of one topic do not lose each other's changes.
func (a *API) incrementalAlterConfigs(rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	if err := a.checkAlterResource(rr.ResourceType, rr.ResourceName); err != nil {
		return err
	}
	if _, err := a.configTopic(rr.ResourceName); err != nil {
		return err
	}
	names := make([]string, len(rr.Configs))
	for i, c := range rr.Configs {
		names[i] = c.Name
	}
	if dup := duplicates(names); len(dup) > 0 {
		keys := slices.Sorted(maps.Keys(dup))
		return fmt.Errorf("%w: config %s is given more than once", errInvalidRequest, strings.Join(keys, ", "))
	}

	err := a.b.UpdateTopicConfigs(rr.ResourceName, func(overrides map[string]string) (map[string]string, error) {
		var effective map[string]string // lazily: APPEND/SUBTRACT start from the effective value
		for _, c := range rr.Configs {
			def, known := config.LookupTopicConfig(c.Name)
			if !known {
				return nil, fmt.Errorf("%w %q", config.ErrUnknownConfig, c.Name)
			}
			if c.Op != kmsg.IncrementalAlterConfigOpDelete && c.Value == nil {
				return nil, fmt.Errorf("%w: %s: a null value is only allowed with DELETE", errInvalidRequest, c.Name)
			}
			switch c.Op {
			case kmsg.IncrementalAlterConfigOpSet:
				overrides[c.Name] = *c.Value
			case kmsg.IncrementalAlterConfigOpDelete:
				delete(overrides, c.Name)
			case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
				if def.Type != config.TypeList {
					return nil, fmt.Errorf("%w: %s: %s is only allowed for LIST configs, and this one is %s", config.ErrInvalidValue, c.Name, c.Op, def.Type)
				}
				cur, ok := overrides[c.Name]
				if !ok {
					if effective == nil {
						effective = make(map[string]string)
						for _, e := range config.DescribeTopic(a.b.Config(), overrides) {
							effective[e.Name] = e.Value
						}
					}
					cur = effective[c.Name]
				}
				overrides[c.Name] = editList(cur, *c.Value, c.Op == kmsg.IncrementalAlterConfigOpAppend)
			default:
				return nil, fmt.Errorf("%w: %s: unknown operation %d", errInvalidRequest, c.Name, c.Op)
			}
		}
		return overrides, nil
	}, validateOnly)
	if err != nil && errorCode(err) == kerr.UnknownServerError.Code {
		a.lg.Warn("altering topic configs failed", "topic", rr.ResourceName, "err", err)
	}
	return err
}

// editList appends the comma-separated items of change to the list cur
// (skipping ones already present), or removes them from it.
func editList(cur, change string, appendItems bool) string {
	var items []string
	for _, s := range strings.Split(cur, ",") {
		if s = strings.TrimSpace(s); s != "" {
			items = append(items, s)
		}
	}
	for _, s := range strings.Split(change, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if appendItems {
			if !slices.Contains(items, s) {
				items = append(items, s)
			}
		} else {
			items = slices.DeleteFunc(items, func(x string) bool { return x == s })
		}
	}
	return strings.Join(items, ",")
}
