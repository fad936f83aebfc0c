// Package workqueuetest gives tests a real RabbitMQ (the one hack/rabbitmq.sh
// runs, named by VIDSTREAM_TEST_RABBITMQ_URL), queues of their own on it,
// and a loopback TCP proxy in front of it that a test can cut, to see
// clients lose their connection without restarting the shared broker.
package workqueuetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/vidstream/vidstream/services/internal/workqueue"
)

// EnvURL names the variable holding the test broker's AMQP URL.
const EnvURL = "VIDSTREAM_TEST_RABBITMQ_URL"

// URL returns the test broker's URL, or skips the test when none is set.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		tb.Skip(EnvURL + " is not set; start a broker with hack/rabbitmq.sh start (or make deps-up)")
	}
	return u
}

// Topology returns a topology of queues no other test uses: queue (e.g.
// events.TranscodeQueue) prefixed with a random name, so tests (and
// engineers) sharing the broker never see each other's jobs. The queues
// are deleted when the test ends.
func Topology(tb testing.TB, brokerURL, queue string, retryDelay time.Duration) workqueue.Topology {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	t := workqueue.Topology{Queue: "test-" + hex.EncodeToString(b[:]) + "." + queue, RetryDelay: retryDelay}
	tb.Cleanup(func() {
		conn, err := amqp.Dial(brokerURL)
		if err != nil {
			tb.Logf("workqueuetest: delete queues of %s: %v", t.Queue, err)
			return
		}
		defer func() { _ = conn.Close() }()
		for _, q := range []string{t.Queue, t.RetryQueue(), t.DLQ()} {
			// A channel per queue: a failed delete closes its channel.
			ch, err := conn.Channel()
			if err != nil {
				tb.Logf("workqueuetest: delete queue %s: %v", q, err)
				return
			}
			if _, err := ch.QueueDelete(q, false, false, false); err != nil {
				tb.Logf("workqueuetest: delete queue %s: %v", q, err)
			}
			_ = ch.Close()
		}
	})
	return t
}

// Declare declares t on the broker at brokerURL, failing the test if it
// cannot.
func Declare(tb testing.TB, brokerURL string, t workqueue.Topology) {
	tb.Helper()
	conn, err := amqp.Dial(brokerURL)
	if err != nil {
		tb.Fatalf("workqueuetest: connect: %v", err)
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		tb.Fatalf("workqueuetest: channel: %v", err)
	}
	if err := workqueue.Declare(ch, t); err != nil {
		tb.Fatal(err)
	}
}

// Get takes one message from queue (acknowledging it) and reports whether
// there was one, for tests reading the dead-letter queue.
func Get(tb testing.TB, brokerURL, queue string) (amqp.Delivery, bool) {
	tb.Helper()
	conn, err := amqp.Dial(brokerURL)
	if err != nil {
		tb.Fatalf("workqueuetest: connect: %v", err)
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		tb.Fatalf("workqueuetest: channel: %v", err)
	}
	d, ok, err := ch.Get(queue, true)
	if err != nil {
		tb.Fatalf("workqueuetest: get from %s: %v", queue, err)
	}
	return d, ok
}

// Proxy forwards TCP connections from a loopback address to the broker. Cut
// drops every connection it carries and refuses new ones (the broker is
// "down" for its clients); Restore accepts connections again.
type Proxy struct {
	target string
	ln     net.Listener

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewProxy starts a proxy to the broker of brokerURL and returns it and
// the same URL pointing at the proxy. It stops when the test ends.
func NewProxy(tb testing.TB, brokerURL string) (*Proxy, string) {
	tb.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		tb.Fatalf("workqueuetest: parse %s: %v", EnvURL, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("workqueuetest: proxy listen: %v", err)
	}
	p := &Proxy{target: u.Host, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	tb.Cleanup(func() {
		_ = ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // listener closed
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.forward(c) })
	}
}

func (p *Proxy) forward(client net.Conn) {
	defer p.forget(client)
	d := net.Dialer{Timeout: 5 * time.Second}
	server, err := d.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		_ = server.Close()
		return
	}
	p.conns[server] = struct{}{}
	p.mu.Unlock()
	defer p.forget(server)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Closing both ends makes the other copy return too.
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
}

func (p *Proxy) forget(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Cut closes every connection through the proxy and refuses new ones until
// Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// Restore accepts connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
