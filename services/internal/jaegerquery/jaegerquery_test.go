package jaegerquery_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/jaegerquery"
)

// testdata/delete-an-account.json is Jaeger v2's /api/v3/traces/<id>
// answer for a real trace: `loadgen demo`'s "delete an account" flow
// against `make run`. The user service deletes the account, its outbox
// relay publishes UserDeleted, watch-history's consumer purges the history.
// The messaging spans' names and messaging.operation.name were edited to
// "send <topic>" / "process <topic>" when the services adopted those names
// (OpenTelemetry messaging conventions 1.44); the rest is as recorded, and so
// is watch-to-the-end.json.
const fixtureID = "cea3c82dcff60c830217673f238d57ef"

func loadFixture(t *testing.T) *jaegerquery.Trace {
	t.Helper()
	f, err := os.Open("testdata/delete-an-account.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts, err := jaegerquery.ParseTraces(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 {
		t.Fatalf("fixture holds %d traces, want 1", len(ts))
	}
	return ts[0]
}

func TestRealTraceBecomesOneTree(t *testing.T) {
	tr := loadFixture(t)
	if tr.ID != fixtureID || len(tr.Spans) != 15 {
		t.Fatalf("trace %s with %d spans, want %s with 15", tr.ID, len(tr.Spans), fixtureID)
	}
	if len(tr.Roots) != 1 || tr.Roots[0].Name != "demo: delete an account" || tr.Roots[0].Service != "loadgen" {
		t.Fatalf("roots = %v, want loadgen's demo span alone", tr.Roots)
	}
	if got := tr.Services(); !slices.Equal(got, []string{"loadgen", "user", "watch-history"}) {
		t.Errorf("services = %v", got)
	}

	find := func(service string, kind jaegerquery.Kind, name string) *jaegerquery.Span {
		t.Helper()
		got := tr.Find(func(s *jaegerquery.Span) bool { return s.Service == service && s.Kind == kind && s.Name == name })
		if len(got) != 1 {
			t.Fatalf("%d %s %s spans %q, want 1", len(got), service, kind, name)
		}
		return got[0]
	}
	client := find("loadgen", jaegerquery.KindClient, "DELETE /v1/users/me")
	server := find("user", jaegerquery.KindServer, "DELETE /v1/users/me")
	producer := find("user", jaegerquery.KindProducer, "send vidstream.users.v1")
	consumer := find("watch-history", jaegerquery.KindConsumer, "process vidstream.users.v1")

	if server.Parent != client || !consumer.IsDescendantOf(server) || consumer.Parent != producer {
		t.Error("the purge is not under the request: client → server → producer → consumer")
	}
	if server.IsDescendantOf(consumer) {
		t.Error("IsDescendantOf is not directional")
	}
	if !slices.ContainsFunc(consumer.Links, func(l jaegerquery.Link) bool { return l.SpanID == producer.SpanID }) {
		t.Errorf("consumer links = %v, want the producer span", consumer.Links)
	}
	if consumer.Depth() != 4 {
		t.Errorf("consumer depth = %d, want 4", consumer.Depth())
	}

	for s, want := range map[*jaegerquery.Span]jaegerquery.Transport{
		tr.Roots[0]:          jaegerquery.TransportNone,
		client:               jaegerquery.TransportHTTP,
		server:               jaegerquery.TransportHTTP,
		producer:             jaegerquery.TransportKafka,
		consumer:             jaegerquery.TransportKafka,
		consumer.Children[0]: jaegerquery.TransportDB,
	} {
		if got := s.Transport(); got != want {
			t.Errorf("%s %q transport = %q, want %q", s.Service, s.Name, got, want)
		}
	}

	// Depth-first, parents first, siblings by start time.
	var order []*jaegerquery.Span
	tr.Walk(func(s *jaegerquery.Span) { order = append(order, s) })
	if len(order) != len(tr.Spans) {
		t.Fatalf("Walk visited %d spans of %d", len(order), len(tr.Spans))
	}
	for i, s := range order[1:] {
		if s.Parent == nil || slices.Index(order, s.Parent) > i {
			t.Fatalf("Walk visits %q before its parent", s.Name)
		}
	}
	if tr.Duration() <= 0 || tr.End().Before(consumer.End) {
		t.Errorf("trace duration %s ends %s, before the consumer's end", tr.Duration(), tr.End())
	}
}

func TestClient(t *testing.T) {
	fixture, err := os.ReadFile("testdata/delete-an-account.json")
	if err != nil {
		t.Fatal(err)
	}
	var searched string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/v3/traces/"+fixtureID:
			_, _ = w.Write(fixture)
		case r.URL.Path == "/api/v3/traces":
			searched = r.URL.RawQuery
			_, _ = w.Write(fixture)
		case strings.HasPrefix(r.URL.Path, "/api/v3/traces/0000"):
			http.Error(w, `{"error":{"httpCode":404,"message":"trace not found"}}`, http.StatusNotFound)
		default:
			http.Error(w, "storage unavailable", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	c := &jaegerquery.Client{BaseURL: srv.URL + "/"}

	tr, err := c.Trace(t.Context(), fixtureID)
	if err != nil || len(tr.Spans) != 15 {
		t.Fatalf("Trace = %v, %v", tr, err)
	}
	if got := c.TraceURL(fixtureID); got != srv.URL+"/trace/"+fixtureID {
		t.Errorf("TraceURL = %q", got)
	}
	if _, err := c.Trace(t.Context(), strings.Repeat("0", 32)); !errors.Is(err, jaegerquery.ErrNotFound) {
		t.Errorf("unknown trace: %v, want ErrNotFound", err)
	}
	if _, err := c.Trace(t.Context(), strings.Repeat("1", 32)); err == nil || !strings.Contains(err.Error(), "storage unavailable") {
		t.Errorf("server error: %v, want its message", err)
	}
	if _, err := c.Trace(t.Context(), "../../admin"); err == nil {
		t.Error("a malformed trace id was sent")
	}

	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ts, err := c.FindTraces(t.Context(), jaegerquery.Search{Service: "user", Operation: "DELETE /v1/users/me", Since: since, Limit: 5})
	if err != nil || len(ts) != 1 {
		t.Fatalf("FindTraces = %v, %v", ts, err)
	}
	for _, want := range []string{"query.service_name=user", "query.operation_name=DELETE+%2Fv1%2Fusers%2Fme", "query.num_traces=5", "query.start_time_min=2026-01-02T03%3A04%3A05Z", "query.start_time_max="} {
		if !strings.Contains(searched, want) {
			t.Errorf("search query %q lacks %q", searched, want)
		}
	}
}

// OTLP/JSON writers differ: enums as numbers or names, 64-bit integers as
// strings or numbers. Both must read the same.
func TestDecodesEitherJSONForm(t *testing.T) {
	const doc = `{"result":{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"video"}}]},
	"scopeSpans":[{"spans":[
	  {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"GET /v1/videos/{id}","kind":"SPAN_KIND_SERVER",
	   "startTimeUnixNano":1000000,"endTimeUnixNano":"3000000","status":{"code":"STATUS_CODE_ERROR","message":"boom"},
	   "attributes":[{"key":"http.request.method","value":{"stringValue":"GET"}},{"key":"http.response.status_code","value":{"intValue":"500"}},
	                 {"key":"retry","value":{"boolValue":false}},{"key":"ratio","value":{"doubleValue":0.5}},
	                 {"key":"list","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":2}]}}}]},
	  {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7","parentSpanId":"b7ad6b7169203331","name":"SELECT","kind":3,
	   "startTimeUnixNano":"1500000","endTimeUnixNano":"1000000","attributes":[{"key":"db.system.name","value":{"stringValue":"sqlite"}}]}
	]}]}]}}`
	ts, err := jaegerquery.ParseTraces(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	tr := ts[0]
	root, child := tr.Roots[0], tr.Roots[0].Children[0]
	if root.Kind != jaegerquery.KindServer || child.Kind != jaegerquery.KindClient {
		t.Errorf("kinds = %s, %s", root.Kind, child.Kind)
	}
	if root.Duration() != 2*time.Millisecond || !root.Error || root.StatusMessage != "boom" {
		t.Errorf("root: duration %s error %t %q", root.Duration(), root.Error, root.StatusMessage)
	}
	if child.Duration() != 0 {
		t.Errorf("a span ending before it starts has duration %s, want 0", child.Duration())
	}
	for k, want := range map[string]string{"http.response.status_code": "500", "retry": "false", "ratio": "0.5", "list": "[a, 2]"} {
		if got := root.Attr(k); got != want {
			t.Errorf("attribute %s = %q, want %q", k, got, want)
		}
	}
	if child.Transport() != jaegerquery.TransportDB || root.Transport() != jaegerquery.TransportHTTP {
		t.Errorf("transports = %s, %s", root.Transport(), child.Transport())
	}

	if _, err := jaegerquery.ParseTraces(strings.NewReader(`{"result":{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz","spanId":"1"}]}]}]}}`)); err == nil {
		t.Error("malformed ids were accepted")
	}
}

// A span whose parent has not arrived is a root of its own; parent ids that
// form a cycle (corrupt data) must not hide spans or loop forever.
func TestIncompleteAndCorruptTrees(t *testing.T) {
	const doc = `{"result":{"resourceSpans":[{"scopeSpans":[{"spans":[
	  {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"0000000000000001","name":"root","startTimeUnixNano":"1"},
	  {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"0000000000000002","parentSpanId":"00000000000000ff","name":"orphan","startTimeUnixNano":"2"},
	  {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"0000000000000003","parentSpanId":"0000000000000004","name":"a","startTimeUnixNano":"3"},
	  {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"0000000000000004","parentSpanId":"0000000000000003","name":"b","startTimeUnixNano":"4"},
	  {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"0000000000000001","name":"root again","startTimeUnixNano":"1"}
	]}]}]}}`
	ts, err := jaegerquery.ParseTraces(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	tr := ts[0]
	if len(tr.Spans) != 4 {
		t.Fatalf("%d spans, want 4 (a duplicate id is kept once)", len(tr.Spans))
	}
	var names []string
	for _, r := range tr.Roots {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"root", "orphan", "a"}) {
		t.Errorf("roots = %v, want root, orphan and the first span of the cycle", names)
	}
	visited := 0
	tr.Walk(func(*jaegerquery.Span) { visited++ })
	if visited != 4 {
		t.Errorf("Walk visited %d spans, want 4", visited)
	}
	for _, s := range tr.Spans {
		_ = s.IsDescendantOf(tr.Roots[0]) // terminates
	}
	if tr.Services()[0] != "unknown" {
		t.Errorf("a resource without service.name: %v", tr.Services())
	}
}
