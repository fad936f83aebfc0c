// Package jaegerquery reads traces back from Jaeger's query API (v2, the
// /api/v3 HTTP endpoints, which answer in OTLP/JSON) and turns them into a
// span tree: what `loadgen` renders as a waterfall and what the end-to-end
// test asserts on.
//
// It decodes OTLP/JSON by hand rather than with protojson: OTLP/JSON writes
// trace and span ids as hex, where protojson expects base64 for bytes
// fields, so the generated OTLP types cannot read it.
package jaegerquery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrNotFound is returned when Jaeger holds no span of the trace (yet: spans
// arrive in batches, a few hundred milliseconds after they end).
var ErrNotFound = errors.New("trace not found")

// Client queries one Jaeger.
type Client struct {
	// BaseURL is Jaeger's query address, e.g. "http://127.0.0.1:16686".
	BaseURL string
	// HTTP defaults to a client with a 10 s timeout.
	HTTP *http.Client
}

// TraceURL is where the trace is shown in Jaeger's UI.
func (c *Client) TraceURL(traceID string) string {
	return strings.TrimRight(c.BaseURL, "/") + "/trace/" + traceID
}

// Trace fetches every span Jaeger holds for traceID (32 hex digits).
func (c *Client) Trace(ctx context.Context, traceID string) (*Trace, error) {
	if !isHexID(traceID, 32) {
		return nil, fmt.Errorf("jaeger: trace id %q: want 32 hex digits", traceID)
	}
	u := strings.TrimRight(c.BaseURL, "/") + "/api/v3/traces/" + traceID
	var doc tracesDocument
	if err := c.get(ctx, u, &doc); err != nil {
		return nil, fmt.Errorf("jaeger: get trace %s: %w", traceID, err)
	}
	t, err := doc.trace(traceID)
	if err != nil {
		return nil, fmt.Errorf("jaeger: trace %s: %w", traceID, err)
	}
	return t, nil
}

// Search is a trace search: the traces of one service, optionally of one
// operation, that started within a time window.
type Search struct {
	Service   string
	Operation string
	Since     time.Time
	Until     time.Time // zero means now
	Limit     int       // zero means 20
}

// FindTraces returns the traces matching s, each with all its spans.
func (c *Client) FindTraces(ctx context.Context, s Search) ([]*Trace, error) {
	until := s.Until
	if until.IsZero() {
		until = time.Now()
	}
	limit := s.Limit
	if limit <= 0 {
		limit = 20
	}
	q := url.Values{}
	q.Set("query.service_name", s.Service)
	if s.Operation != "" {
		q.Set("query.operation_name", s.Operation)
	}
	q.Set("query.start_time_min", s.Since.UTC().Format(time.RFC3339Nano))
	q.Set("query.start_time_max", until.UTC().Format(time.RFC3339Nano))
	// Without num_traces Jaeger's memory store returns nothing.
	q.Set("query.num_traces", fmt.Sprint(limit))
	u := strings.TrimRight(c.BaseURL, "/") + "/api/v3/traces?" + q.Encode()

	var doc tracesDocument
	if err := c.get(ctx, u, &doc); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("jaeger: find traces of %s: %w", s.Service, err)
	}
	return doc.traces()
}

// ParseTraces reads a saved answer of Jaeger's /api/v3/traces endpoints
// (e.g. `curl .../api/v3/traces/<id> > trace.json`): one trace per trace id
// it holds, in order of first appearance.
func ParseTraces(r io.Reader) ([]*Trace, error) {
	var doc tracesDocument
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("jaeger: decode traces: %w", err)
	}
	ts, err := doc.traces()
	if err != nil {
		return nil, fmt.Errorf("jaeger: %w", err)
	}
	return ts, nil
}

func (c *Client) get(ctx context.Context, u string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return ErrNotFound
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.NewDecoder(resp.Body).Decode(dst); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

func isHexID(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') && (r < 'A' || r > 'F') {
			return false
		}
	}
	return true
}
