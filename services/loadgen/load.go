package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/vidstream/vidstream/services/loadgen/internal/api"
	"github.com/vidstream/vidstream/services/loadgen/internal/loadmodel"
	"github.com/vidstream/vidstream/services/loadgen/internal/stats"
	"github.com/vidstream/vidstream/services/loadgen/internal/tracing"
	"github.com/vidstream/vidstream/services/loadgen/internal/waterfall"
)

// loadConfig is one load run.
type loadConfig struct {
	duration    time.Duration
	rate        float64 // open model: requests per second
	workers     int     // closed model: concurrent request loops
	readRatio   float64
	users       int
	videos      int
	timeout     time.Duration
	maxInflight int
	traceRatio  float64
	jsonOut     bool
}

// LoadReport is the result of a load run, as `loadgen load -json` prints
// it: the run's shape, then stats.Totals.
type LoadReport struct {
	Model        string  `json:"model"` // "open" or "closed"
	TargetRate   float64 `json:"target_rate_per_s,omitempty"`
	Workers      int     `json:"workers,omitempty"`
	ReadRatio    float64 `json:"read_ratio"`
	DurationSecs float64 `json:"duration_s"`
	// Dropped counts the open model's sends skipped because max-inflight
	// requests were already waiting: the system could not keep up.
	Dropped int `json:"dropped"`
	stats.Totals
}

func runLoad(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var (
		ep  endpoints
		cfg loadConfig
	)
	fs := newFlagSet("load [flags]", `
Generates load against vidstream's API for a duration and reports
throughput and latency.

Open model (-rate N): N requests a second, sent on schedule whether or not
earlier ones have finished, the way independent users arrive; latency is
measured from the scheduled send time, so a stalled server is not hidden by
a client that waits for it (coordinated omission). Closed model (-workers N,
the default with 8): N loops, each sending its next request when the
previous one is answered.

Before the run, loadgen creates its own accounts and videos. Reads are GET
of a video, of a catalogue page, of the popular list and of a user's
history; writes are progress reports (PUT /v1/history), new videos and
renames.`, stdout)
	ep.register(fs, getenv)
	fs.DurationVar(&cfg.duration, "duration", 30*time.Second, "how long to generate load")
	fs.Float64Var(&cfg.rate, "rate", 0, "open model: requests per second (excludes -workers)")
	fs.IntVar(&cfg.workers, "workers", 0, "closed model: concurrent workers (default 8 when -rate is not set)")
	fs.Float64Var(&cfg.readRatio, "read-ratio", 0.8, "share of requests that are reads, 0 to 1")
	fs.IntVar(&cfg.users, "users", 10, "accounts to create and spread the load over")
	fs.IntVar(&cfg.videos, "videos", 30, "videos to create before the run")
	fs.DurationVar(&cfg.timeout, "timeout", 5*time.Second, "timeout of one request")
	fs.IntVar(&cfg.maxInflight, "max-inflight", 512, "open model: requests waiting at once before sends are dropped")
	fs.Float64Var(&cfg.traceRatio, "trace-ratio", 0, "share of requests loadgen traces (0: send no trace context, the services sample on their own)")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print the summary as JSON (and no progress line)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}

	transport := http.DefaultTransport.(*http.Transport).Clone()
	// The default keeps 2 idle connections per host: under load every
	// other request would open a new connection, and the run would
	// measure TCP handshakes.
	transport.MaxIdleConns = 4096
	transport.MaxIdleConnsPerHost = 1024
	var rt http.RoundTripper = transport
	if cfg.traceRatio > 0 {
		tp, err := tracing.NewProvider(ctx, ep.otlp, cfg.traceRatio)
		if err != nil {
			return err
		}
		defer func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) }()
		rt = tracing.Transport(transport, tp)
	}
	client := &api.Client{
		UserURL: ep.user, VideoURL: ep.video, HistoryURL: ep.history,
		HTTP: &http.Client{Timeout: cfg.timeout, Transport: rt},
	}

	info := stdout
	if cfg.jsonOut {
		info = io.Discard
	}
	fmt.Fprintf(info, "setting up: %d accounts, %d videos...\n", cfg.users, cfg.videos)
	fx, err := newFixture(ctx, client, cfg.users, cfg.videos)
	if err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	fmt.Fprintf(info, "loadgen load: %s for %s, %.0f%% reads\n", cfg.model(), cfg.duration, cfg.readRatio*100)

	rec := stats.NewRecorder()
	ops := fx.operations(client)
	fire := func(ctx context.Context, from time.Time) {
		op := pick(ops, cfg.readRatio)
		err := op.do(ctx)
		status := op.ok
		if err != nil {
			status = api.StatusOf(err)
		}
		rec.Record(op.route, status, err, time.Since(from))
	}

	progressDone := make(chan struct{})
	var progressWG sync.WaitGroup
	if !cfg.jsonOut {
		progressWG.Go(func() { progress(stdout, rec, cfg.duration, progressDone) })
	}
	start := time.Now()
	var dropped int
	if cfg.rate > 0 {
		var wait func()
		dropped, wait = loadmodel.Open(ctx, loadmodel.RealClock{}, cfg.rate, cfg.duration, cfg.maxInflight, fire)
		wait()
	} else {
		loadmodel.Closed(ctx, cfg.workers, cfg.duration, func(ctx context.Context, from time.Time) bool {
			fire(ctx, from)
			return true
		})
	}
	elapsed := time.Since(start)
	if ctx.Err() == nil {
		// The open model's last send is scheduled just before the end:
		// the run lasted the whole duration even if it finished early.
		elapsed = max(elapsed, cfg.duration)
	}
	close(progressDone)
	progressWG.Wait()

	report := LoadReport{
		Model: "closed", Workers: cfg.workers, ReadRatio: cfg.readRatio,
		DurationSecs: elapsed.Round(time.Millisecond).Seconds(), Dropped: dropped,
		Totals: rec.Totals(elapsed),
	}
	if cfg.rate > 0 {
		report.Model, report.TargetRate, report.Workers = "open", cfg.rate, 0
	}
	if cfg.jsonOut {
		return writeJSON("-", stdout, report)
	}
	return printLoadReport(stdout, report)
}

func (c *loadConfig) validate() error {
	switch {
	case c.rate > 0 && c.workers > 0:
		return errors.New("load: -rate (open model) and -workers (closed model) exclude each other")
	case c.rate < 0 || c.workers < 0:
		return errors.New("load: -rate and -workers must be positive")
	case c.rate == 0 && c.workers == 0:
		c.workers = 8
	}
	if c.readRatio < 0 || c.readRatio > 1 {
		return fmt.Errorf("load: -read-ratio %v is not between 0 and 1", c.readRatio)
	}
	if c.users < 1 || c.videos < 1 {
		return errors.New("load: -users and -videos must be at least 1")
	}
	if c.duration <= 0 || c.timeout <= 0 || c.maxInflight < 1 {
		return errors.New("load: -duration, -timeout and -max-inflight must be positive")
	}
	if c.traceRatio < 0 || c.traceRatio > 1 {
		return fmt.Errorf("load: -trace-ratio %v is not between 0 and 1", c.traceRatio)
	}
	return nil
}

func (c *loadConfig) model() string {
	if c.rate > 0 {
		return fmt.Sprintf("open model at %g requests/s", c.rate)
	}
	return fmt.Sprintf("closed model with %d workers", c.workers)
}

// progress prints a live line every second: redrawn in place on a
// terminal, a new line every 5 s otherwise (CI logs).
func progress(w io.Writer, rec *stats.Recorder, total time.Duration, done <-chan struct{}) {
	tty := isTerminal(w)
	every := time.Second
	if !tty {
		every = 5 * time.Second
	}
	start := time.Now()
	last := start
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-done:
			if tty {
				_, _ = io.WriteString(w, "\r\x1b[K")
			}
			return
		case now := <-tick.C:
			p := rec.Interval()
			secs := now.Sub(last).Seconds()
			last = now
			line := fmt.Sprintf("%5s/%s  requests %d  errors %d  now %.0f/s  p50 %s  p99 %s",
				now.Sub(start).Round(time.Second), total, p.Requests, p.Errors,
				float64(p.WindowRequests)/secs,
				waterfall.FormatDuration(p.WindowLatency.P50), waterfall.FormatDuration(p.WindowLatency.P99))
			if tty {
				_, _ = io.WriteString(w, "\r\x1b[K"+line)
			} else {
				_, _ = io.WriteString(w, line+"\n")
			}
		}
	}
}

func printLoadReport(w io.Writer, r LoadReport) error {
	var b strings.Builder
	errPct := 0.0
	if r.Requests > 0 {
		errPct = float64(r.Errors) / float64(r.Requests) * 100
	}
	ms := func(v float64) string { return waterfall.FormatDuration(time.Duration(v * float64(time.Millisecond))) }
	fmt.Fprintf(&b, "\nrequests   %d in %.1fs = %.1f/s", r.Requests, r.DurationSecs, r.Throughput)
	if r.Model == "open" {
		fmt.Fprintf(&b, " (target %g/s, dropped %d)", r.TargetRate, r.Dropped)
	}
	fmt.Fprintf(&b, "\nerrors     %d (%.2f%%)\n", r.Errors, errPct)
	fmt.Fprintf(&b, "latency    p50 %s   p90 %s   p99 %s   max %s   mean %s\n",
		ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max), ms(r.Latency.Mean))
	var statuses []string
	for _, k := range sortedKeys(r.Status) {
		statuses = append(statuses, fmt.Sprintf("%s: %d", k, r.Status[k]))
	}
	fmt.Fprintf(&b, "by status  %s\n\n", strings.Join(statuses, "   "))

	// Numbers right-aligned; the routes padded to one width beforehand so
	// that they read left-aligned all the same.
	width := len("ROUTE")
	for _, rt := range r.Routes {
		width = max(width, len(rt.Route))
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tREQUESTS\tERRORS\tP50\tP90\tP99\tMAX\t\n", width, "ROUTE")
	for _, rt := range r.Routes {
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", width, rt.Route, rt.Requests, rt.Errors,
			ms(rt.Latency.P50), ms(rt.Latency.P90), ms(rt.Latency.P99), ms(rt.Latency.Max))
	}
	_ = tw.Flush()
	if len(r.SampleErrors) > 0 {
		b.WriteString("\nsample errors:\n")
		for _, e := range r.SampleErrors {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// fixture is the data a load run works on, created before it starts.
type fixture struct {
	users  []fixtureUser
	videos []fixtureVideo
	serial atomic.Int64
}

type fixtureUser struct{ token string }

type fixtureVideo struct {
	id       string
	duration int
	owner    int // index in users
}

func newFixture(ctx context.Context, c *api.Client, users, videos int) (*fixture, error) {
	run := newRunID()
	fx := &fixture{users: make([]fixtureUser, users)}
	// A few at a time: signing up hashes a password with argon2id (tens of
	// milliseconds of CPU each, by design).
	if err := parallel(ctx, users, 4, func(ctx context.Context, i int) error {
		email := fmt.Sprintf("load%d+%s@example.com", i, run)
		if _, err := c.SignUp(ctx, email, DemoPassword, fmt.Sprintf("Load %d", i)); err != nil {
			return err
		}
		s, err := c.LogIn(ctx, email, DemoPassword)
		if err != nil {
			return err
		}
		fx.users[i] = fixtureUser{token: s.Token}
		return nil
	}); err != nil {
		return nil, err
	}
	fx.videos = make([]fixtureVideo, videos)
	if err := parallel(ctx, videos, 8, func(ctx context.Context, i int) error {
		owner := i % users
		v, err := c.CreateVideo(ctx, fx.users[owner].token, fx.newVideo(run))
		if err != nil {
			return err
		}
		fx.videos[i] = fixtureVideo{id: v.ID, duration: v.DurationSeconds, owner: owner}
		return nil
	}); err != nil {
		return nil, err
	}
	return fx, nil
}

func (fx *fixture) newVideo(run string) api.NewVideo {
	n := fx.serial.Add(1)
	if n%3 == 0 {
		season, episode, series := 1, int(n), "Load Series "+run
		return api.NewVideo{
			Title: fmt.Sprintf("Episode %d", n), Description: "generated by loadgen", Kind: "episode",
			DurationSeconds: 600 + rand.IntN(3000), SeriesTitle: &series, Season: &season, Episode: &episode,
		}
	}
	return api.NewVideo{
		Title: fmt.Sprintf("Movie %d %s", n, run), Description: "generated by loadgen", Kind: "movie",
		DurationSeconds: 3600 + rand.IntN(5400),
	}
}

// operation is one kind of request of the mix.
type operation struct {
	route  string
	write  bool
	weight int
	ok     int // the status a success answers
	do     func(ctx context.Context) error
}

// operations is the request mix: weights within reads and within writes;
// the read ratio splits between the two.
func (fx *fixture) operations(c *api.Client) []operation {
	user := func() fixtureUser { return fx.users[rand.IntN(len(fx.users))] }
	video := func() fixtureVideo { return fx.videos[rand.IntN(len(fx.videos))] }
	return []operation{
		{route: "GET /v1/videos/{id}", weight: 40, ok: http.StatusOK, do: func(ctx context.Context) error {
			_, err := c.GetVideo(ctx, video().id)
			return err
		}},
		{route: "GET /v1/videos", weight: 25, ok: http.StatusOK, do: func(ctx context.Context) error {
			kind := []string{"", "movie", "episode"}[rand.IntN(3)]
			_, err := c.ListVideos(ctx, kind, 20, "")
			return err
		}},
		{route: "GET /v1/videos/popular", weight: 15, ok: http.StatusOK, do: func(ctx context.Context) error {
			_, err := c.PopularVideos(ctx, 10)
			return err
		}},
		{route: "GET /v1/history", weight: 20, ok: http.StatusOK, do: func(ctx context.Context) error {
			_, err := c.History(ctx, user().token, 20, "")
			return err
		}},
		{route: "PUT /v1/history/{video_id}", write: true, weight: 75, ok: http.StatusOK, do: func(ctx context.Context) error {
			v := video()
			_, err := c.PutProgress(ctx, user().token, v.id, rand.IntN(v.duration+1))
			return err
		}},
		{route: "POST /v1/videos", write: true, weight: 10, ok: http.StatusCreated, do: func(ctx context.Context) error {
			_, err := c.CreateVideo(ctx, user().token, fx.newVideo("load"))
			return err
		}},
		{route: "PATCH /v1/videos/{id}", write: true, weight: 15, ok: http.StatusOK, do: func(ctx context.Context) error {
			v := video()
			_, err := c.UpdateVideo(ctx, fx.users[v.owner].token, v.id,
				map[string]any{"description": fmt.Sprintf("revision %d", fx.serial.Add(1))})
			return err
		}},
	}
}

// pick chooses an operation: a read with probability readRatio, else a
// write, then one of that group by weight.
func pick(ops []operation, readRatio float64) operation {
	write := rand.Float64() >= readRatio
	total := 0
	for _, op := range ops {
		if op.write == write {
			total += op.weight
		}
	}
	n := rand.IntN(total)
	for _, op := range ops {
		if op.write != write {
			continue
		}
		if n < op.weight {
			return op
		}
		n -= op.weight
	}
	return ops[0] // unreachable: weights are positive
}

// parallel runs fn(i) for i in [0, n) with at most width at once, stopping
// at the first error.
func parallel(ctx context.Context, n, width int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, width)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
