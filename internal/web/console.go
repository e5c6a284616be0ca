package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"maps"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/txn"
)

//go:embed templates/*.html static/style.css
var assets embed.FS

// pages holds the parsed templates, one set per page: each page defines
// "title" and "content", which layout.html places.
type pages struct {
	byName map[string]*template.Template
	css    []byte
}

var funcs = template.FuncMap{
	"bytes":    humanBytes,
	"num":      groupDigits,
	"duration": humanDuration,
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05.000Z")
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return humanDuration(time.Since(t)) + " ago"
	},
}

func newPages() (*pages, error) {
	pg := &pages{byName: make(map[string]*template.Template)}
	for _, name := range []string{"overview.html", "topic.html", "group.html", "error.html", "login.html"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", name, err)
		}
		pg.byName[name] = t
	}
	css, err := assets.ReadFile("static/style.css")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	pg.css = css
	return pg, nil
}

func (pg *pages) serveCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(pg.css)
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages.byName[name].ExecuteTemplate(&buf, "layout.html", data); err != nil {
		s.lg.Error("web console: rendering failed", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Read-only pages built from client-supplied bytes (message values,
	// group ids): no scripts at all, no framing.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) renderError(w http.ResponseWriter, status int, msg string) {
	s.render(w, status, "error.html", errorPage{Status: status, StatusText: http.StatusText(status), Message: msg})
}

type errorPage struct {
	Status     int
	StatusText string
	Message    string
}

// cluster is the header every page shows.
type cluster struct {
	ID, NodeID, KafkaAddr, Advertised, Version, DataDir, GoVersion string
	Uptime                                                         time.Duration
	Started                                                        time.Time
	// Brokers of a cluster (empty on a single broker).
	Brokers []brokerRow
}

type brokerRow struct {
	ID                   int32
	Address, Rack, State string
}

func (s *Server) cluster() cluster {
	bc := s.cfg.Broker.Config()
	adv := bc.AdvertisedListener
	c := cluster{
		ID: s.cfg.Broker.ClusterID(), NodeID: strconv.Itoa(int(bc.NodeID)),
		KafkaAddr: s.cfg.KafkaAddr(), Advertised: adv, Version: s.cfg.Version,
		DataDir: bc.DataDir, GoVersion: runtime.Version(),
		Uptime: time.Since(s.cfg.Started), Started: s.cfg.Started,
	}
	if st := s.cfg.Broker.ClusterState(); st != nil {
		for _, id := range st.BrokerIDs() {
			r := st.Brokers[id]
			state := "live"
			if r.Fenced {
				state = "fenced"
			}
			c.Brokers = append(c.Brokers, brokerRow{ID: id, Address: net.JoinHostPort(r.Host, strconv.Itoa(int(r.Port))), Rack: r.Rack, State: state})
		}
	}
	return c
}

type topicRow struct {
	Name       string
	Internal   bool
	Partitions int
	Size       int64
	Messages   int64 // ≈ Σ (high watermark - log start offset)
	Overrides  []string
}

type overviewPage struct {
	Cluster      cluster
	Topics       []topicRow
	TotalSize    int64
	TotalMsgs    int64
	Groups       []groupView
	GroupsError  string
	ShowInternal bool
	ShowTxns     bool
	Txns         []txnRow
	// Principal is the logged-in user ("" when the console is open).
	Principal string
}

// txnRow is one open transaction on the overview.
type txnRow struct {
	ID            string
	State         string
	ProducerID    int64
	ProducerEpoch int16
	Age, Timeout  time.Duration
	Overdue       bool // open longer than its timeout
	Partitions    []string
}

// openTxns lists the unfinished transactions this broker coordinates.
func openTxns(t Txns, now time.Time) []txnRow {
	metas, _ := t.List(func(m *txn.Meta) bool {
		return m.State == txn.Ongoing || m.State == txn.PrepareCommit || m.State == txn.PrepareAbort
	})
	rows := make([]txnRow, 0, len(metas))
	for _, m := range metas {
		r := txnRow{ID: m.ID, State: m.State.String(), ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Timeout: m.Timeout}
		if !m.StartTime.IsZero() {
			r.Age = now.Sub(m.StartTime)
			r.Overdue = r.Age > m.Timeout
		}
		for _, tp := range m.Partitions {
			r.Partitions = append(r.Partitions, fmt.Sprintf("%s-%d", tp.Topic, tp.Partition))
		}
		rows = append(rows, r)
	}
	return rows
}

func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request) {
	pg := overviewPage{Cluster: s.cluster(), ShowInternal: r.URL.Query().Get("internal") == "1", Principal: principalOf(r)}
	for _, t := range s.cfg.Broker.Topics() {
		if t.Internal && !pg.ShowInternal {
			continue
		}
		if !s.may(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.Name) {
			continue
		}
		row := topicRow{Name: t.Name, Internal: t.Internal, Partitions: len(t.Partitions)}
		for _, p := range t.Partitions {
			if p == nil {
				continue // cluster: held by other brokers
			}
			row.Size += p.Size()
			row.Messages += max(0, p.HighWatermark()-p.LogStartOffset())
		}
		for _, k := range slices.Sorted(maps.Keys(t.Overrides)) {
			row.Overrides = append(row.Overrides, k+"="+t.Overrides[k])
		}
		pg.TotalSize += row.Size
		pg.TotalMsgs += row.Messages
		pg.Topics = append(pg.Topics, row)
	}
	if s.cfg.Groups != nil {
		gs, err := collectGroups(s.cfg.Broker, s.cfg.Groups)
		if err != nil {
			pg.GroupsError = err.Error()
		}
		for _, g := range gs {
			if s.may(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g.ID) {
				pg.Groups = append(pg.Groups, g)
			}
		}
	}
	if s.cfg.Txns != nil {
		pg.ShowTxns = true
		for _, t := range openTxns(s.cfg.Txns, time.Now()) {
			if s.may(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, t.ID) {
				pg.Txns = append(pg.Txns, t)
			}
		}
	}
	s.render(w, http.StatusOK, "overview.html", pg)
}

type partitionRow struct {
	Index int32
	// Cluster: the controller's view; Local is false where this broker
	// holds no replica (the log columns are then empty).
	Leader                                      int32
	Replicas, ISR                               string
	Local                                       bool
	LogStartOffset, HighWatermark, LogEndOffset int64
	LeaderEpoch                                 int32
	Size                                        int64
	Segments                                    int
	Messages                                    int64
}

type configRow struct {
	Name, Value, Source string
	Override            bool
}

type topicPage struct {
	Cluster    cluster
	Name       string
	ID         string
	Internal   bool
	Partitions []partitionRow
	Configs    []configRow
	// The message browser: Partition and Offset as asked (Offset -1 = the
	// last N), the result or an error.
	Partition   int32
	OffsetInput string
	N           int
	MaxN        int
	Browse      *browseResult
	BrowseError string
}

func (s *Server) handleTopic(w http.ResponseWriter, r *http.Request) {
	t := s.cfg.Broker.Topic(r.PathValue("topic"))
	if t != nil && !s.may(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.Name) {
		s.renderError(w, http.StatusForbidden, fmt.Sprintf("%s may not describe topic %q.", principalOf(r), t.Name))
		return
	}
	if t == nil {
		s.renderError(w, http.StatusNotFound, fmt.Sprintf("Topic %q does not exist.", r.PathValue("topic")))
		return
	}
	pg := topicPage{Cluster: s.cluster(), Name: t.Name, ID: t.ID.String(), Internal: t.Internal,
		N: defaultBrowseRecords, MaxN: maxBrowseRecords}
	for i, p := range t.Partitions {
		pr := partitionRow{Index: int32(i), Leader: s.cfg.Broker.Config().NodeID, Replicas: "-", ISR: "-"}
		if as, ok := t.Assignment(int32(i)); ok {
			pr.Leader, pr.LeaderEpoch = as.Leader, as.LeaderEpoch
			pr.Replicas, pr.ISR = joinIDs(as.Replicas), joinIDs(as.ISR)
		}
		if p != nil {
			pr.Local = true
			pr.LogStartOffset, pr.HighWatermark, pr.LogEndOffset = p.LogStartOffset(), p.HighWatermark(), p.LogEndOffset()
			pr.LeaderEpoch, pr.Size, pr.Segments = p.LeaderEpoch(), p.Size(), p.NumSegments()
			pr.Messages = max(0, pr.HighWatermark-pr.LogStartOffset)
		}
		pg.Partitions = append(pg.Partitions, pr)
	}
	for _, e := range config.DescribeTopic(s.cfg.Broker.Config(), t.Overrides) {
		v := e.Value
		if e.Sensitive {
			v = "(hidden)"
		}
		_, over := t.Overrides[e.Name]
		pg.Configs = append(pg.Configs, configRow{Name: e.Name, Value: v, Source: e.Source.String(), Override: over})
	}

	q := r.URL.Query()
	if v := q.Get("partition"); v != "" {
		i, err := strconv.ParseInt(v, 10, 32)
		if err != nil || t.Partition(int32(i)) == nil {
			pg.BrowseError = fmt.Sprintf("partition %q does not exist (the topic has %d)", v, len(t.Partitions))
		}
		pg.Partition = int32(i)
	}
	if v := q.Get("n"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			pg.BrowseError = fmt.Sprintf("n %q: give a number of messages from 1 to %d", v, maxBrowseRecords)
		}
		pg.N = min(max(n, 1), maxBrowseRecords)
	}
	from := int64(-1)
	if v := strings.TrimSpace(q.Get("offset")); v != "" {
		o, err := strconv.ParseInt(v, 10, 64)
		if err != nil || o < 0 {
			pg.BrowseError = fmt.Sprintf("offset %q: give an offset of 0 or more, or leave it empty for the latest messages", v)
		}
		from, pg.OffsetInput = o, v
	}
	if pg.BrowseError == "" && !s.may(r, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, t.Name) {
		pg.BrowseError = fmt.Sprintf("%s may not read topic %q, so its messages are not shown.", principalOf(r), t.Name)
	}
	if pg.BrowseError == "" {
		if p := t.Partition(pg.Partition); p != nil {
			res, err := browse(p, from, pg.N)
			if err != nil {
				pg.BrowseError = err.Error()
			}
			pg.Browse = &res
		}
	}
	s.render(w, http.StatusOK, "topic.html", pg)
}

type groupPage struct {
	Cluster cluster
	Group   groupView
}

func (s *Server) handleGroup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("group")
	if !s.may(r, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, id) {
		s.renderError(w, http.StatusForbidden, fmt.Sprintf("%s may not describe group %q.", principalOf(r), id))
		return
	}
	if s.cfg.Groups == nil {
		s.renderError(w, http.StatusNotFound, "This broker has no group coordinator.")
		return
	}
	g, err := describeGroup(s.cfg.Broker, s.cfg.Groups, id)
	if err != nil {
		s.renderError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if g.State == group.Dead {
		s.renderError(w, http.StatusNotFound, fmt.Sprintf("Consumer group %q does not exist.", id))
		return
	}
	s.render(w, http.StatusOK, "group.html", groupPage{Cluster: s.cluster(), Group: g})
}

// humanBytes formats n in binary units: 1.5 KiB, 12 MiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// groupDigits writes n with thousands separators: 1,234,567.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// humanDuration rounds d for people: 3d 4h, 2h 5m, 4m 10s, 12s.
func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd %dh", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, (d%time.Hour)/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm %ds", d/time.Minute, (d%time.Minute)/time.Second)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}

func joinIDs(ids []int32) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.Itoa(int(id))
	}
	return strings.Join(out, ",")
}
