// Package httpxtest is the HTTP client the services' REST tests share: one
// call sends a request with an optional JSON body and bearer token and
// returns the whole response, failing the test on a server error the
// contract does not allow.
package httpxtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Response is a response read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the body as JSON into dst, failing tb if it is not.
func (r Response) Decode(tb testing.TB, dst any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, dst); err != nil {
		tb.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Client sends test requests.
type Client struct {
	HTTP *http.Client
	// Tolerate lists the 5xx statuses a test may meet (503: a dependency
	// is down); any other 5xx fails the test, whatever it asserts next.
	Tolerate []int
}

// Do sends one request. body may be nil, a string or []byte sent as is, or
// any other value, encoded as JSON; a body gets Content-Type
// application/json unless headers (name, value pairs) set another. A
// non-empty token is sent as "Authorization: Bearer <token>".
func (c *Client) Do(tb testing.TB, method, url, token string, body any, headers ...string) Response {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(tb.Context(), method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, url, err)
	}
	if resp.StatusCode >= 500 && !slices.Contains(c.Tolerate, resp.StatusCode) {
		tb.Errorf("%s %s: server error %d: %s", method, url, resp.StatusCode, raw)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}
