package faultdrill

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/loopback"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	historyapp "github.com/vidstream/vidstream/services/watch-history/app"
)

// TestUserServiceDownUnderLoad: watch-history serves GET /v1/history under
// steady load while the user service (which checks every token) is stopped
// and started again. Promised: while it is down every answer is a 503
// problem with Retry-After, the circuit breaker opens (Retry-After becomes
// its open period) so answers come without waiting for a deadline, and
// once the user service is back 200s resume without anyone's help.
//
// Figures (logged as FIGURE lines, recorded in docs/reliability.md):
// requests per phase, time to the breaker opening, 503 latency before and
// after it opened, time from restart to the first 200.
func TestUserServiceDownUnderLoad(t *testing.T) {
	gate(t)
	brokers := kafkatest.Broker(t)
	dir := t.TempDir()
	client := &http.Client{Timeout: 30 * time.Second}
	userGRPC := loopback.FreeAddr(t)

	ua := newUserApp(t, dir, brokers, userGRPC)
	stopUser := runApp(ua)
	t.Cleanup(func() { _ = stopUser() })

	hcfg := historyapp.Config{
		Base:          servicetest.Base(t, "sqlite://"+filepath.Join(dir, "history.db"), brokers),
		UserGRPCAddr:  userGRPC,
		VideoGRPCAddr: "127.0.0.1:1", // not on this path
	}
	// The production deadline, not the tests' generous one: the drill is
	// about what a client sees.
	hcfg.RPCTimeout = 2 * time.Second
	ha, err := historyapp.New(t.Context(), hcfg, telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "watch-history", ha.Run)

	userURL, historyURL := "http://"+ua.HTTPAddr(), "http://"+ha.HTTPAddr()
	until(t, time.Minute, "user service ready", func() bool {
		resp, err := client.Get(userURL + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	token := login(t, client, userURL)

	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	wg := drive(ctx, 4, client, func(ctx context.Context) (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodGet, historyURL+"/v1/history", nil)
		if err == nil {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return r, err
	}, rec)
	defer func() { cancel(); wg.Wait() }()

	count := func(from time.Time, ok func(sample) bool) int {
		n := 0
		for _, s := range rec.snapshot() {
			if !s.at.Before(from) && ok(s) {
				n++
			}
		}
		return n
	}
	start := time.Now()
	until(t, time.Minute, "200 answers before the fault", func() bool {
		return count(start, func(s sample) bool { return s.status == http.StatusOK }) >= 200
	})

	openFor := strconv.Itoa(int(grpcx.DefaultResilience.OpenFor.Seconds()))
	stoppedAt := time.Now()
	if err := stopUser(); err != nil {
		t.Fatalf("stop user service: %v", err)
	}
	until(t, time.Minute, "the breaker opening (Retry-After: "+openFor+")", func() bool {
		return count(stoppedAt, func(s sample) bool { return s.retryAfter == openFor }) > 0
	})
	// Stay down past one open period, so half-open probes fail and the
	// breaker opens again, as it would in a longer outage.
	openedAt := time.Now()
	until(t, time.Minute, "an outage longer than the open period", func() bool {
		return time.Since(openedAt) > grpcx.DefaultResilience.OpenFor+time.Second
	})

	restartedAt := time.Now()
	ua2 := newUserApp(t, dir, brokers, userGRPC)
	stopUser2 := runApp(ua2)
	t.Cleanup(func() { _ = stopUser2() })
	until(t, time.Minute, "200s again after the restart", func() bool {
		return count(restartedAt, func(s sample) bool { return s.status == http.StatusOK }) >= 100
	})
	cancel()
	wg.Wait()

	// What the client saw, phase by phase.
	var (
		before, outage, after int
		firstOpen, firstOK    time.Time
		latClosed, latOpen    []time.Duration
		unexpected, without   int
		odd                   []string
	)
	for _, s := range rec.snapshot() {
		switch {
		case s.at.Before(stoppedAt):
			before++
			// A request in flight when the user service stopped may
			// get a 503 too.
			overlaps := s.at.Add(s.latency).After(stoppedAt)
			if s.status != http.StatusOK && (!overlaps || s.status != http.StatusServiceUnavailable) {
				unexpected++
				odd = append(odd, fmt.Sprintf("before: %d", s.status))
			}
		case s.at.Before(restartedAt):
			outage++
			if s.status == http.StatusOK {
				continue // in flight when the user service stopped
			}
			if s.status != http.StatusServiceUnavailable {
				unexpected++
				odd = append(odd, fmt.Sprintf("outage: %d at +%v", s.status, s.at.Sub(stoppedAt)))
				continue
			}
			if s.retryAfter == "" {
				without++
			}
			if s.retryAfter == openFor {
				latOpen = append(latOpen, s.latency)
				if firstOpen.IsZero() || s.at.Before(firstOpen) {
					firstOpen = s.at
				}
			} else {
				latClosed = append(latClosed, s.latency)
			}
		default:
			after++
			if s.status == http.StatusOK && (firstOK.IsZero() || s.at.Before(firstOK)) {
				firstOK = s.at
			}
			if s.status != http.StatusOK && s.status != http.StatusServiceUnavailable {
				unexpected++
				odd = append(odd, fmt.Sprintf("after: %d at +%v", s.status, s.at.Sub(restartedAt)))
			}
		}
	}
	if unexpected > 0 {
		t.Errorf("%d answers were neither 200 nor 503: %v", unexpected, odd)
	}
	if without > 0 {
		t.Errorf("%d 503s came without Retry-After", without)
	}
	if len(latOpen) == 0 || firstOK.IsZero() {
		t.Fatalf("breaker never opened (%d) or never recovered", len(latOpen))
	}
	report(t, "user down: requests before %d, during outage %d, after restart %d", before, outage, after)
	report(t, "user down: breaker open %v after the stop", firstOpen.Sub(stoppedAt).Round(time.Millisecond))
	report(t, "user down: 503 latency before the breaker opened p50 %s p99 %s (n=%d)", ms(percentile(latClosed, .5)), ms(percentile(latClosed, .99)), len(latClosed))
	report(t, "user down: 503 latency with the breaker open p50 %s p99 %s (n=%d)", ms(percentile(latOpen, .5)), ms(percentile(latOpen, .99)), len(latOpen))
	report(t, "user down: first 200 %v after the restart began", firstOK.Sub(restartedAt).Round(time.Millisecond))
}
