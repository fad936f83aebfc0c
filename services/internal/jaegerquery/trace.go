package jaegerquery

import (
	"slices"
	"strings"
	"time"
)

// Kind is a span's role in its hop, as OpenTelemetry defines it.
type Kind string

// The span kinds, lower-case as Jaeger's UI shows them.
const (
	KindUnspecified Kind = "unspecified"
	KindInternal    Kind = "internal"
	KindServer      Kind = "server"
	KindClient      Kind = "client"
	KindProducer    Kind = "producer"
	KindConsumer    Kind = "consumer"
)

// Transport is how a span's hop travels, read from its semantic-convention
// attributes.
type Transport string

// The transports vidstream's spans use. TransportNone is a span of work
// inside one process.
const (
	TransportNone  Transport = ""
	TransportHTTP  Transport = "http"
	TransportGRPC  Transport = "grpc"
	TransportKafka Transport = "kafka"
	TransportDB    Transport = "db"
)

// Trace is one trace: its spans, linked into a tree.
type Trace struct {
	ID string
	// Spans holds every span, ordered by start time.
	Spans []*Span
	// Roots holds the spans without a parent in the trace, ordered by start
	// time: the root itself, plus any span whose parent Jaeger has not
	// received (yet). A complete trace has exactly one.
	Roots []*Span
}

// Span is one span of a trace.
type Span struct {
	TraceID      string
	SpanID       string
	ParentSpanID string // empty for a root
	Name         string
	// Service is the service.name of the process that recorded the span.
	Service string
	Kind    Kind
	Start   time.Time
	End     time.Time
	// Attributes holds the span's attributes, every value as text.
	Attributes map[string]string
	// Error is true when the span's status is Error; StatusMessage says why.
	Error         bool
	StatusMessage string
	Links         []Link

	// Parent is nil for a root; Children are ordered by start time.
	Parent   *Span
	Children []*Span
}

// Link is a span link: a relation to a span that is not the parent.
type Link struct {
	TraceID string
	SpanID  string
}

// Duration is how long the span took.
func (s *Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Attr returns an attribute's value, or "" if the span has none.
func (s *Span) Attr(key string) string { return s.Attributes[key] }

// Transport classifies the span's hop by the OpenTelemetry semantic
// conventions, old and new names alike, so spans from any instrumentation
// library version are recognised.
func (s *Span) Transport() Transport {
	has := func(keys ...string) bool {
		for _, k := range keys {
			if _, ok := s.Attributes[k]; ok {
				return true
			}
		}
		return false
	}
	switch {
	case has("messaging.system"):
		if s.Attributes["messaging.system"] == "kafka" {
			return TransportKafka
		}
		return Transport(s.Attributes["messaging.system"])
	case has("rpc.system.name", "rpc.system"):
		system := s.Attributes["rpc.system.name"]
		if system == "" {
			system = s.Attributes["rpc.system"]
		}
		if system == "grpc" {
			return TransportGRPC
		}
		return Transport(system)
	case has("db.system.name", "db.system"):
		return TransportDB
	case has("http.request.method", "http.method", "http.route", "url.full"):
		return TransportHTTP
	default:
		return TransportNone
	}
}

// IsDescendantOf reports whether a is s's parent, grandparent, and so on.
func (s *Span) IsDescendantOf(a *Span) bool {
	for p := s.Parent; p != nil; p = p.Parent {
		if p == a {
			return true
		}
	}
	return false
}

// Depth is the number of ancestors s has.
func (s *Span) Depth() int {
	d := 0
	for p := s.Parent; p != nil; p = p.Parent {
		d++
	}
	return d
}

// Start is when the trace's first span started.
func (t *Trace) Start() time.Time {
	if len(t.Spans) == 0 {
		return time.Time{}
	}
	return t.Spans[0].Start
}

// End is when the trace's last span ended.
func (t *Trace) End() time.Time {
	var end time.Time
	for _, s := range t.Spans {
		if s.End.After(end) {
			end = s.End
		}
	}
	return end
}

// Duration is the time from the first span's start to the last span's end.
func (t *Trace) Duration() time.Duration { return t.End().Sub(t.Start()) }

// Services lists the services with spans in the trace, in the order of
// their first span.
func (t *Trace) Services() []string {
	var out []string
	for _, s := range t.Spans {
		if !slices.Contains(out, s.Service) {
			out = append(out, s.Service)
		}
	}
	return out
}

// Find returns the spans for which match is true, in start order.
func (t *Trace) Find(match func(*Span) bool) []*Span {
	var out []*Span
	for _, s := range t.Spans {
		if match(s) {
			out = append(out, s)
		}
	}
	return out
}

// Walk visits every span depth first, parents before children, siblings in
// start order, starting from each root in turn.
func (t *Trace) Walk(visit func(s *Span)) {
	var walk func(s *Span)
	walk = func(s *Span) {
		visit(s)
		for _, c := range s.Children {
			walk(c)
		}
	}
	for _, r := range t.Roots {
		walk(r)
	}
}

// NewTrace links spans into a tree by their ParentSpanID, replacing their
// Parent and Children. Spans that share an id (Jaeger may return a span
// twice while it is being written) are kept once.
func NewTrace(id string, spans []*Span) *Trace {
	t := &Trace{ID: strings.ToLower(id)}
	byID := make(map[string]*Span, len(spans))
	for _, s := range spans {
		if _, dup := byID[s.SpanID]; dup {
			continue
		}
		s.Parent, s.Children = nil, nil
		byID[s.SpanID] = s
		t.Spans = append(t.Spans, s)
	}
	byStart := func(a, b *Span) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		// Same start (coarse clocks): the longer span is the enclosing one.
		return b.End.Compare(a.End)
	}
	slices.SortStableFunc(t.Spans, byStart)
	for _, s := range t.Spans {
		if p, ok := byID[s.ParentSpanID]; ok && s.ParentSpanID != "" && p != s {
			s.Parent = p
			p.Children = append(p.Children, s)
		} else {
			t.Roots = append(t.Roots, s)
		}
	}
	// Children were appended in start order already, since t.Spans is.
	t.breakCycles()
	return t
}

// breakCycles makes every span reachable from a root. Parent ids that form
// a cycle (only corrupt data does that) would otherwise hide those spans
// from Walk and make IsDescendantOf loop forever; the earliest span of each
// cycle becomes a root instead.
func (t *Trace) breakCycles() {
	seen := make(map[*Span]bool, len(t.Spans))
	var mark func(s *Span)
	mark = func(s *Span) {
		seen[s] = true
		for _, c := range s.Children {
			mark(c)
		}
	}
	for _, r := range t.Roots {
		mark(r)
	}
	for _, s := range t.Spans {
		if seen[s] {
			continue
		}
		p := s.Parent
		p.Children = slices.DeleteFunc(p.Children, func(c *Span) bool { return c == s })
		s.Parent = nil
		t.Roots = append(t.Roots, s)
		mark(s)
	}
}
