package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// errExited reports that a process ended while devstack waited for it.
var errExited = errors.New("exited before it was ready")

// waitReady polls probe until it succeeds, p exits (if p is not nil) or
// timeout passes. The error names the last probe failure, which is what a
// user needs to see when a part never comes up.
func waitReady(ctx context.Context, name string, p *proc, timeout time.Duration, probe func(context.Context) error) error {
	deadline, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var done <-chan struct{}
	if p != nil {
		done = p.done
	}
	// Start fast (most parts are up within tens of milliseconds), then
	// back off so a slow start does not become a busy loop.
	delay := 20 * time.Millisecond
	for {
		attempt, cancelAttempt := context.WithTimeout(deadline, 2*time.Second)
		err := probe(attempt)
		cancelAttempt()
		if err == nil {
			return nil
		}
		timer := time.NewTimer(delay)
		select {
		case <-done:
			timer.Stop()
			return fmt.Errorf("%s %w", name, errExited)
		case <-deadline.Done():
			timer.Stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s not ready after %s: %w", name, timeout, err)
		case <-timer.C:
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

// probeHTTP succeeds when url answers 200.
func probeHTTP(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
			return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	}
}

// probeKafka succeeds when the brokers answer a metadata request: the
// first thing every client does, so it proves the broker speaks Kafka, not
// just that its port is open.
func probeKafka(brokers []string) func(context.Context) error {
	return func(ctx context.Context) error {
		// A transport of its own: kafka-go's default one caches metadata,
		// and a probe must neither read stale answers nor leave any for
		// other clients of the process.
		transport := &kafka.Transport{DialTimeout: 2 * time.Second}
		defer transport.CloseIdleConnections()
		c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 2 * time.Second, Transport: transport}
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{})
		if err != nil {
			return fmt.Errorf("kafka metadata from %s: %w", strings.Join(brokers, ","), err)
		}
		if len(md.Brokers) == 0 {
			return fmt.Errorf("kafka metadata from %s: no brokers", strings.Join(brokers, ","))
		}
		return nil
	}
}

// jaegerUIIsPlaceholder reports whether the Jaeger at queryURL serves the
// placeholder page that binaries built without the UI assets show.
func jaegerUIIsPlaceholder(ctx context.Context, queryURL string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, queryURL+"/", http.NoBody)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return false, err
	}
	return strings.Contains(string(body), "not the Jaeger UI you are looking for"), nil
}

// port is one TCP port devstack is about to use.
type port struct {
	number int
	owner  string
}

// portsInUse returns the ports among want that something already listens
// on. Checked before building and starting anything, so a second `make run`
// (or a stray service) is reported in one clear line rather than as a
// crash of whichever process binds first.
func portsInUse(ctx context.Context, want []port) []port {
	var busy []port
	d := net.Dialer{Timeout: 300 * time.Millisecond}
	for _, p := range want {
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.number)))
		if err == nil {
			_ = conn.Close()
			busy = append(busy, p)
		}
	}
	return busy
}
