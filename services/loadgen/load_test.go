package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/loadgen/internal/stats"
)

func TestPickHonoursTheReadRatio(t *testing.T) {
	var ops []operation
	for _, op := range (&fixture{users: []fixtureUser{{}}, videos: []fixtureVideo{{duration: 1}}}).operations(nil) {
		if op.weight <= 0 {
			t.Errorf("%s has weight %d", op.route, op.weight)
		}
		ops = append(ops, op)
	}
	for range 200 {
		if op := pick(ops, 1); op.write {
			t.Fatalf("read ratio 1 picked the write %s", op.route)
		}
		if op := pick(ops, 0); !op.write {
			t.Fatalf("read ratio 0 picked the read %s", op.route)
		}
	}
}

func TestLoadConfigValidate(t *testing.T) {
	base := loadConfig{duration: time.Second, readRatio: 0.8, users: 1, videos: 1, timeout: time.Second, maxInflight: 1}
	c := base
	if err := c.validate(); err != nil || c.workers != 8 {
		t.Fatalf("default: %v, workers %d; want the closed model with 8", err, c.workers)
	}
	for name, mutate := range map[string]func(*loadConfig){
		"both models":     func(c *loadConfig) { c.rate, c.workers = 10, 2 },
		"negative rate":   func(c *loadConfig) { c.rate = -1 },
		"read ratio > 1":  func(c *loadConfig) { c.readRatio = 1.5 },
		"no users":        func(c *loadConfig) { c.users = 0 },
		"zero duration":   func(c *loadConfig) { c.duration = 0 },
		"trace ratio < 0": func(c *loadConfig) { c.traceRatio = -0.1 },
	} {
		c := base
		mutate(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPrintLoadReport(t *testing.T) {
	r := stats.NewRecorder()
	r.Record("GET /v1/videos/{id}", 200, nil, 2*time.Millisecond)
	r.Record("PUT /v1/history/{video_id}", 503, errors.New("PUT /v1/history/{video_id}: 503 Service Unavailable"), 9*time.Millisecond)
	var out bytes.Buffer
	err := printLoadReport(&out, LoadReport{Model: "open", TargetRate: 50, DurationSecs: 1, Dropped: 3, Totals: r.Totals(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"requests   2 in 1.0s = 2.0/s (target 50/s, dropped 3)",
		"errors     1 (50.00%)",
		"p50 2.00ms", "max 9.00ms",
		"200: 1   503: 1",
		"GET /v1/videos/{id}", "PUT /v1/history/{video_id}",
		"503 Service Unavailable",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
