package httpx_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/vidstream/vidstream/services/internal/httpx"
)

// serve starts h on a real listener on 127.0.0.1.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type request struct {
	method  string
	path    string
	body    string
	headers map[string]string
}

type response struct {
	*http.Response
	body []byte
}

func do(t *testing.T, srv *httptest.Server, req request) response {
	t.Helper()
	if req.method == "" {
		req.method = http.MethodGet
	}
	r, err := http.NewRequestWithContext(t.Context(), req.method, srv.URL+req.path, strings.NewReader(req.body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, v := range req.headers {
		r.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{Response: resp, body: body}
}

// problem decodes a problem+json response, failing the test if it is not one.
func problem(t *testing.T, resp response, wantStatus int) httpx.Problem {
	t.Helper()
	if resp.StatusCode != wantStatus {
		t.Fatalf("status = %d, want %d; body: %s", resp.StatusCode, wantStatus, resp.body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != httpx.ProblemContentType {
		t.Fatalf("Content-Type = %q, want %q; body: %s", ct, httpx.ProblemContentType, resp.body)
	}
	var p httpx.Problem
	dec := json.NewDecoder(bytes.NewReader(resp.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode problem %s: %v", resp.body, err)
	}
	if p.Status != wantStatus {
		t.Errorf("problem status = %d, want %d", p.Status, wantStatus)
	}
	if p.Title != http.StatusText(wantStatus) {
		t.Errorf("problem title = %q, want %q", p.Title, http.StatusText(wantStatus))
	}
	return p
}

// waitForSpans polls until n spans have ended. The server span ends in the
// handler chain, which may still be unwinding when the client has read the
// response, so asserting right away would race.
func waitForSpans(t *testing.T, rec *tracetest.SpanRecorder, n int) []trace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		spans := rec.Ended()
		if len(spans) >= n {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d ended spans, want %d", len(spans), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the server goroutines and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitForLog polls the JSON log lines until one satisfies match: like spans,
// the access log line is written after the response may have been read.
func waitForLog(t *testing.T, b *syncBuffer, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for line := range strings.SplitSeq(b.String(), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line is not JSON: %q: %v", line, err)
			}
			if match(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching log line in:\n%s", b.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before deadline")
		}
		time.Sleep(time.Millisecond)
	}
}
