package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/vidstream/vidstream/services/internal/jaegerquery"
	"github.com/vidstream/vidstream/services/loadgen/internal/api"
	"github.com/vidstream/vidstream/services/loadgen/internal/tracing"
	"github.com/vidstream/vidstream/services/loadgen/internal/waterfall"
)

// DemoPassword is every demo account's password; the accounts are
// throwaway, and the end-to-end test logs in with it after a restart.
const DemoPassword = "correct horse battery staple"

// DemoReport is what `loadgen demo -json` writes: the accounts, videos and
// flows of the run, each flow with its trace.
type DemoReport struct {
	RunID  string       `json:"run_id"`
	Users  []DemoUser   `json:"users"`
	Videos []api.Video  `json:"videos"`
	Flows  []FlowReport `json:"flows"`
}

// DemoUser is an account the demo created.
type DemoUser struct {
	Name     string `json:"name"`
	ID       string `json:"id"`
	Email    string `json:"email"`
	Password string `json:"password"`
	// Deleted is true for the account the demo deleted.
	Deleted bool `json:"deleted"`
}

// FlowReport is one flow: what it did and its trace.
type FlowReport struct {
	Name     string `json:"name"`
	Summary  string `json:"summary"`
	TraceID  string `json:"trace_id"`
	TraceURL string `json:"trace_url"`
	Error    string `json:"error,omitempty"`
	// Spans and Services describe the trace as Jaeger returned it (zero
	// when it could not be fetched).
	Spans    int      `json:"spans"`
	Services []string `json:"services"`
	// Missing lists expected spans Jaeger did not have in time.
	Missing []string `json:"missing,omitempty"`
}

// want is a span a flow's trace must contain before it is complete; async
// hops (relay, consumers) reach Jaeger after the flow returns.
type want struct {
	service string
	kind    jaegerquery.Kind
	name    string // prefix of the span name
}

func (w want) String() string { return fmt.Sprintf("%s %s span %q", w.service, w.kind, w.name+"…") }

func (w want) in(t *jaegerquery.Trace) bool {
	return len(t.Find(func(s *jaegerquery.Span) bool {
		return s.Service == w.service && s.Kind == w.kind && strings.HasPrefix(s.Name, w.name)
	})) > 0
}

type flow struct {
	name    string
	summary string
	traceID string
	err     error
	wants   []want
}

// demo is one run of `loadgen demo`.
type demo struct {
	api    *api.Client
	tracer trace.Tracer
	out    io.Writer
	runID  string
	flows  []*flow
	report DemoReport
	// more are spans the running flow found it must wait for too (the
	// job queue's, when video runs with it).
	more []want
}

func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var ep endpoints
	fs := newFlagSet("demo [flags]", `
Runs every flow of vidstream's API once, each as one trace starting in
loadgen: sign up, log in, publish videos, browse and paginate the catalogue,
watch (one video to the end), rename and delete a video, delete an account,
log out. Then fetches each trace from Jaeger and draws it as a waterfall.
Accounts and videos are new on every run (the names carry a run id), so the
demo can run again and again against the same data.`, stdout)
	ep.register(fs, getenv)
	jsonOut := fs.String("json", "", "also write a JSON report of the run to this file (- for stdout, replacing the text)")
	waterfalls := fs.Bool("waterfall", true, "draw each flow's trace (needs Jaeger's query API)")
	settle := fs.Duration("settle", 15*time.Second, "how long to wait for each trace's asynchronous spans to reach Jaeger")
	if err := fs.Parse(args); err != nil {
		return err
	}
	out := stdout
	if *jsonOut == "-" {
		out = io.Discard
	}

	tp, err := tracing.NewProvider(ctx, ep.otlp, 1)
	if err != nil {
		return err
	}
	defer func() { _ = tp.Shutdown(context.WithoutCancel(ctx)) }()
	client := &api.Client{
		UserURL: ep.user, VideoURL: ep.video, HistoryURL: ep.history,
		HTTP: &http.Client{Timeout: 10 * time.Second, Transport: tracing.Transport(http.DefaultTransport, tp)},
	}
	d := &demo{api: client, tracer: tp.Tracer("github.com/vidstream/vidstream/services/loadgen"), out: out, runID: newRunID()}
	d.report.RunID = d.runID
	fmt.Fprintf(out, "vidstream demo, run %s: users %s, videos %s, history %s\n\n", d.runID, ep.user, ep.video, ep.history)

	runErr := d.runFlows(ctx)
	// The flows' last spans must reach Jaeger before their traces are read.
	if err := flush(ctx, tp); err != nil {
		fmt.Fprintf(out, "warning: flushing loadgen's spans: %v\n", err)
	}

	jc := &jaegerquery.Client{BaseURL: ep.jaeger}
	for _, f := range d.flows {
		fr := FlowReport{Name: f.name, Summary: f.summary, TraceID: f.traceID, TraceURL: jc.TraceURL(f.traceID)}
		if f.err != nil {
			fr.Error = f.err.Error()
		}
		d.report.Flows = append(d.report.Flows, fr)
	}
	if *waterfalls || *jsonOut != "" {
		fmt.Fprintf(out, "\nTraces (from Jaeger at %s):\n", ep.jaeger)
		for i, f := range d.flows {
			t, missing, err := settleTrace(ctx, jc, f.traceID, f.wants, *settle)
			fr := &d.report.Flows[i]
			if err != nil && !errors.Is(err, jaegerquery.ErrNotFound) {
				// Not a missing trace but no Jaeger: the other traces
				// would fail the same way.
				fmt.Fprintf(out, "\nJaeger's query API is not answering (%v); open the links below once it is, or run `loadgen trace <trace-id>`.\n", err)
				break
			}
			if err != nil {
				fmt.Fprintf(out, "\n%s: trace %s: %v\n", f.name, f.traceID, err)
				continue
			}
			fr.Spans, fr.Services = len(t.Spans), t.Services()
			for _, m := range missing {
				fr.Missing = append(fr.Missing, m.String())
			}
			if !*waterfalls {
				continue
			}
			fmt.Fprintln(out)
			if err := waterfall.Text(out, t, waterfall.Options{
				Title: "demo: " + f.name,
				URL:   jc.TraceURL(t.ID),
				Color: isTerminal(out) && getenv("NO_COLOR") == "",
			}); err != nil {
				return err
			}
			if len(missing) > 0 {
				fmt.Fprintf(out, "still missing after %s: %v\n", *settle, missing)
			}
		}
	}

	fmt.Fprintf(out, "\nFlows and their traces:\n")
	for _, fr := range d.report.Flows {
		status := "ok "
		if fr.Error != "" {
			status = "ERR"
		}
		fmt.Fprintf(out, "  %s %-22s %s\n", status, fr.Name, fr.TraceURL)
	}
	fmt.Fprintf(out, "\nOpen a link (Jaeger's search page: %s/search), or draw any trace again with `go run ./services/loadgen trace <trace-id>`.\n", strings.TrimRight(ep.jaeger, "/"))
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, stdout, d.report); err != nil {
			return err
		}
	}
	return runErr
}

// runFlows runs the flows in order; each needs what the previous ones made
// (accounts, sessions, videos), so the first failure ends the demo.
func (d *demo) runFlows(ctx context.Context) error {
	type account struct {
		name  string
		user  api.User
		token string
	}
	accounts := map[string]*account{}
	names := []string{"ada", "bob", "cy"}
	var movie, ep1, ep2 api.Video

	steps := []struct {
		name  string
		wants []want
		fn    func(ctx context.Context) (string, error)
	}{
		{"sign up", []want{{"user", jaegerquery.KindServer, "POST /v1/users"}}, func(ctx context.Context) (string, error) {
			for _, n := range names {
				email := fmt.Sprintf("%s+%s@example.com", n, d.runID)
				u, err := d.api.SignUp(ctx, email, DemoPassword, strings.ToUpper(n[:1])+n[1:])
				if err != nil {
					return "", err
				}
				accounts[n] = &account{name: n, user: u}
				d.report.Users = append(d.report.Users, DemoUser{Name: n, ID: u.ID, Email: email, Password: DemoPassword})
			}
			return fmt.Sprintf("%d accounts: %s", len(names), strings.Join(names, ", ")), nil
		}},
		{"log in", []want{{"user", jaegerquery.KindServer, "POST /v1/sessions"}}, func(ctx context.Context) (string, error) {
			for _, n := range names {
				a := accounts[n]
				s, err := d.api.LogIn(ctx, a.user.Email, DemoPassword)
				if err != nil {
					return "", err
				}
				a.token = s.Token
			}
			me, err := d.api.Me(ctx, accounts["bob"].token)
			if err != nil {
				return "", err
			}
			pub, err := d.api.PublicUser(ctx, accounts["ada"].user.ID)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("3 sessions; bob is %q, ada's public profile shows %q", me.DisplayName, pub.DisplayName), nil
		}},
		{"publish videos", []want{{"video", jaegerquery.KindServer, "POST /v1/videos"}}, func(ctx context.Context) (string, error) {
			tok := accounts["ada"].token
			year, series := 1927, "Lighthouse Keepers "+d.runID
			var err error
			if movie, err = d.api.CreateVideo(ctx, tok, api.NewVideo{
				Title: "Metropolis " + d.runID, Description: "A silent science-fiction film.", Kind: "movie",
				DurationSeconds: 9180, ReleaseYear: &year,
			}); err != nil {
				return "", err
			}
			for i, v := range []*api.Video{&ep1, &ep2} {
				season, episode := 1, i+1
				if *v, err = d.api.CreateVideo(ctx, tok, api.NewVideo{
					Title: fmt.Sprintf("Episode %d", episode), Description: "Night falls on the island.", Kind: "episode",
					DurationSeconds: 1500, SeriesTitle: &series, Season: &season, Episode: &episode,
				}); err != nil {
					return "", err
				}
			}
			if movie.Status != "processing" {
				d.report.Videos = []api.Video{movie, ep1, ep2}
				return "ada published a movie and two episodes (ready at once: video runs without the job queue)", nil
			}
			// With the job queue on, each video waits for the transcoder;
			// the trace follows the job through the queue and back.
			d.more = transcodeWants
			took := time.Now()
			for _, v := range []*api.Video{&movie, &ep1, &ep2} {
				if *v, err = d.waitTranscoded(ctx, v.ID, time.Minute); err != nil {
					return "", err
				}
			}
			d.report.Videos = []api.Video{movie, ep1, ep2}
			return fmt.Sprintf("ada published a movie and two episodes: processing, transcoded, ready in %s", since(took)), nil
		}},
		{"browse the catalogue", []want{{"video", jaegerquery.KindServer, "GET /v1/videos"}}, func(ctx context.Context) (string, error) {
			page, err := d.api.ListVideos(ctx, "", 2, "")
			if err != nil {
				return "", err
			}
			pages, seen := 1, len(page.Items)
			for page.NextCursor != "" && pages < 3 {
				if page, err = d.api.ListVideos(ctx, "", 2, page.NextCursor); err != nil {
					return "", err
				}
				pages++
				seen += len(page.Items)
			}
			episodes, err := d.api.ListVideos(ctx, "episode", 10, "")
			if err != nil {
				return "", err
			}
			if _, err := d.api.PopularVideos(ctx, 5); err != nil {
				return "", err
			}
			if _, err := d.api.GetVideo(ctx, movie.ID); err != nil {
				return "", err
			}
			return fmt.Sprintf("%d videos over %d pages, %d episodes, popular, one video", seen, pages, len(episodes.Items)), nil
		}},
		{"start watching", []want{
			{"watch-history", jaegerquery.KindServer, "PUT /v1/history/"},
			{"watch-history", jaegerquery.KindProducer, "send vidstream.watch.v1"},
		}, func(ctx context.Context) (string, error) {
			for _, w := range []struct {
				who string
				v   api.Video
				pct int
			}{{"bob", movie, 10}, {"bob", ep1, 30}, {"cy", movie, 50}} {
				if _, err := d.api.PutProgress(ctx, accounts[w.who].token, w.v.ID, w.v.DurationSeconds*w.pct/100); err != nil {
					return "", err
				}
			}
			return "bob started the movie and episode 1, cy the movie", nil
		}},
		{"watch to the end", []want{
			{"watch-history", jaegerquery.KindServer, "PUT /v1/history/"},
			{"watch-history", jaegerquery.KindProducer, "send vidstream.watch.v1"},
			{"video", jaegerquery.KindConsumer, "process vidstream.watch.v1"},
		}, func(ctx context.Context) (string, error) {
			p, err := d.api.PutProgress(ctx, accounts["bob"].token, movie.ID, movie.DurationSeconds*95/100)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("bob at %ds of %ds: completed=%t (VideoWatched → video's view counter)", p.PositionSeconds, p.DurationSeconds, p.Completed), nil
		}},
		{"rename a video", []want{
			{"video", jaegerquery.KindServer, "PATCH /v1/videos/"},
			{"watch-history", jaegerquery.KindConsumer, "process vidstream.videos.v1"},
		}, func(ctx context.Context) (string, error) {
			v, err := d.api.UpdateVideo(ctx, accounts["ada"].token, movie.ID, map[string]any{"title": "Metropolis (restored) " + d.runID})
			if err != nil {
				return "", err
			}
			movie = v
			return fmt.Sprintf("renamed to %q (VideoUpdated → watch-history's titles)", v.Title), nil
		}},
		{"delete a video", []want{
			{"video", jaegerquery.KindServer, "DELETE /v1/videos/"},
			{"watch-history", jaegerquery.KindConsumer, "process vidstream.videos.v1"},
		}, func(ctx context.Context) (string, error) {
			if err := d.api.DeleteVideo(ctx, accounts["ada"].token, ep1.ID); err != nil {
				return "", err
			}
			return "deleted episode 1 (VideoDeleted → removed from histories)", nil
		}},
		{"see the events land", []want{{"watch-history", jaegerquery.KindServer, "GET /v1/history"}}, func(ctx context.Context) (string, error) {
			// Consumers apply events a moment after the requests that
			// caused them: poll, with a deadline, as any client of an
			// eventually consistent system must.
			deadline := time.Now().Add(15 * time.Second)
			for {
				h, err := d.api.History(ctx, accounts["bob"].token, 10, "")
				if err != nil {
					return "", err
				}
				v, err := d.api.GetVideo(ctx, movie.ID)
				if err != nil {
					return "", err
				}
				renamed := slices.ContainsFunc(h.Items, func(p api.Progress) bool { return p.VideoID == movie.ID && p.Title == movie.Title })
				removed := !slices.ContainsFunc(h.Items, func(p api.Progress) bool { return p.VideoID == ep1.ID })
				if renamed && removed && v.ViewCount >= 1 {
					return fmt.Sprintf("bob's history: %s, title updated, deleted video gone; movie views: %d", plural(len(h.Items), "entry", "entries"), v.ViewCount), nil
				}
				if time.Now().After(deadline) {
					return "", fmt.Errorf("events not applied after 15s: renamed=%t removed=%t views=%d", renamed, removed, v.ViewCount)
				}
				select {
				case <-ctx.Done():
					return "", ctx.Err()
				case <-time.After(250 * time.Millisecond):
				}
			}
		}},
		{"delete an account", []want{
			{"user", jaegerquery.KindServer, "DELETE /v1/users/me"},
			{"user", jaegerquery.KindProducer, "send vidstream.users.v1"},
			{"watch-history", jaegerquery.KindConsumer, "process vidstream.users.v1"},
		}, func(ctx context.Context) (string, error) {
			if err := d.api.DeleteMe(ctx, accounts["cy"].token); err != nil {
				return "", err
			}
			for i := range d.report.Users {
				if d.report.Users[i].Name == "cy" {
					d.report.Users[i].Deleted = true
				}
			}
			return "cy deleted her account (UserDeleted → her history purged)", nil
		}},
		{"log out", []want{{"user", jaegerquery.KindServer, "DELETE /v1/sessions/current"}}, func(ctx context.Context) (string, error) {
			tok := accounts["bob"].token
			if err := d.api.LogOut(ctx, tok); err != nil {
				return "", err
			}
			_, err := d.api.Me(ctx, tok)
			if api.StatusOf(err) != http.StatusUnauthorized {
				return "", fmt.Errorf("after logout, GET /v1/users/me: want 401, got %v", err)
			}
			return "bob logged out; his token now gets 401", nil
		}},
	}

	for i, st := range steps {
		f := &flow{name: st.name, wants: st.wants}
		d.flows = append(d.flows, f)
		ctx, span := d.tracer.Start(ctx, "demo: "+st.name, trace.WithSpanKind(trace.SpanKindInternal))
		f.traceID = span.SpanContext().TraceID().String()
		d.more = nil
		f.summary, f.err = st.fn(ctx)
		f.wants = append(f.wants, d.more...)
		if f.err != nil {
			span.RecordError(f.err)
			span.SetStatus(codes.Error, f.err.Error())
		}
		span.End()
		if f.err != nil {
			fmt.Fprintf(d.out, "%2d. %-22s FAILED: %v\n    trace %s\n", i+1, st.name, f.err, f.traceID)
			return fmt.Errorf("demo flow %q: %w", st.name, f.err)
		}
		fmt.Fprintf(d.out, "%2d. %-22s %s\n", i+1, st.name, f.summary)
	}
	return nil
}

// transcodeWants are the spans of the job queue's hop: the relay sends the
// job, the transcoder processes it and reports to video over gRPC, and
// video's relay then announces the video.
var transcodeWants = []want{
	{"video", jaegerquery.KindProducer, "send vidstream.transcode"},
	{"transcoder", jaegerquery.KindConsumer, "process vidstream.transcode"},
	{"transcoder", jaegerquery.KindClient, "vidstream.video.v1.VideoService/CompleteTranscode"},
	{"video", jaegerquery.KindServer, "vidstream.video.v1.VideoService/CompleteTranscode"},
	{"video", jaegerquery.KindProducer, "send vidstream.videos.v1"},
}

// waitTranscoded polls a processing video until the transcoder has
// reported on it, within wait: ready, or an error naming its status.
func (d *demo) waitTranscoded(ctx context.Context, id string, wait time.Duration) (api.Video, error) {
	deadline := time.Now().Add(wait)
	for {
		v, err := d.api.GetVideo(ctx, id)
		if err != nil {
			return api.Video{}, err
		}
		switch {
		case v.Status == "ready":
			return v, nil
		case v.Status != "processing":
			return api.Video{}, fmt.Errorf("video %s: transcode ended %q", id, v.Status)
		case time.Now().After(deadline):
			return api.Video{}, fmt.Errorf("video %s still processing after %s: is the transcoder running?", id, wait)
		}
		select {
		case <-ctx.Done():
			return api.Video{}, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

// settleTrace fetches a trace once it holds every wanted span and has
// stopped growing, or whatever Jaeger has when wait runs out, naming what
// is still missing then.
func settleTrace(ctx context.Context, jc *jaegerquery.Client, id string, wants []want, wait time.Duration) (*jaegerquery.Trace, []want, error) {
	deadline := time.Now().Add(wait)
	var (
		last    *jaegerquery.Trace
		missing []want
	)
	for {
		t, err := jc.Trace(ctx, id)
		if err != nil && !errors.Is(err, jaegerquery.ErrNotFound) {
			return nil, nil, err
		}
		if err == nil {
			missing = missing[:0]
			for _, w := range wants {
				if !w.in(t) {
					missing = append(missing, w)
				}
			}
			// Complete and stable: the same span count twice in a row
			// means no straggler (a second consumer, a retry) is still
			// on its way.
			if len(missing) == 0 && last != nil && len(last.Spans) == len(t.Spans) {
				return t, nil, nil
			}
			last = t
		}
		if time.Now().After(deadline) {
			if last != nil {
				return last, missing, nil
			}
			return nil, nil, jaegerquery.ErrNotFound
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func flush(ctx context.Context, tp *sdktrace.TracerProvider) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return tp.ForceFlush(ctx)
}

func newRunID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeJSON(path string, stdout io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
