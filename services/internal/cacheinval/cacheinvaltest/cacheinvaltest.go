// Package cacheinvaltest gives tests a Redis to invalidate through: the real
// server named by VIDSTREAM_TEST_REDIS_URL or an embedded one (miniredis),
// a channel of their own, and a loopback proxy that can cut them off from
// Redis without disturbing a server other tests share.
package cacheinvaltest

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/uuid"
)

// RedisURLEnv names the real Redis server for tests.
const RedisURLEnv = "VIDSTREAM_TEST_REDIS_URL"

// Server is a Redis a test runs against.
type Server struct {
	Name string
	// URL is redis://host:port/db.
	URL string
	// Embedded is the in-process server; nil for the real one.
	Embedded *miniredis.Miniredis
}

// Embedded starts an in-process Redis on a loopback port, closed when the
// test ends.
func Embedded(tb testing.TB) Server {
	tb.Helper()
	m := miniredis.RunT(tb)
	return Server{Name: "embedded", URL: "redis://" + m.Addr() + "/0", Embedded: m}
}

// Real returns the server named by VIDSTREAM_TEST_REDIS_URL; it skips the
// test when that is unset, or fails it when CI=true.
func Real(tb testing.TB) Server {
	tb.Helper()
	u := os.Getenv(RedisURLEnv)
	if u == "" {
		msg := RedisURLEnv + " is not set; `hack/redis.sh start` runs a local server and prints one"
		if os.Getenv("CI") == "true" {
			tb.Fatal("cacheinvaltest: CI=true but " + msg)
		}
		tb.Skip("cacheinvaltest: skipping real Redis: " + msg)
	}
	return Server{Name: "real", URL: u}
}

// Servers are the servers every test runs against.
var Servers = []struct {
	Name  string
	Start func(testing.TB) Server
}{{"embedded", Embedded}, {"real", Real}}

// Channel is a channel name no other test (or test process) uses, so tests
// sharing one server do not hear each other.
func Channel(tb testing.TB) string {
	return "vidstream.test." + strings.ReplaceAll(tb.Name(), "/", ".") + "." + uuid.NewString()
}

// Proxy forwards loopback TCP connections to a Redis server until Sever
// cuts them, and refuses (accepts and closes) new ones until Restore.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	severed bool
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// NewProxy starts a proxy to the server at rawURL, closed when the test ends.
func NewProxy(tb testing.TB, rawURL string) *Proxy {
	tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatalf("cacheinvaltest: parse Redis URL: %v", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("cacheinvaltest: listen: %v", err)
	}
	p := &Proxy{ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	tb.Cleanup(func() {
		_ = ln.Close()
		p.Sever()
		p.wg.Wait()
	})
	return p
}

// URL is rawURL (the proxied server's) with the proxy's address instead.
func (p *Proxy) URL(tb testing.TB, rawURL string) string {
	tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatalf("cacheinvaltest: parse Redis URL: %v", err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

// Sever closes every connection and refuses new ones.
func (p *Proxy) Sever() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.severed = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.severed = false
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		if p.severed {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := p.dial()
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(c, up) })
		p.wg.Go(func() { p.pipe(up, c) })
	}
}

func (p *Proxy) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return (&net.Dialer{}).DialContext(ctx, "tcp", p.target)
}

func (p *Proxy) pipe(dst, src net.Conn) {
	// EOF or a closed connection: either way this pair is done.
	_, _ = io.Copy(dst, src)
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = dst.Close()
	_ = src.Close()
	delete(p.conns, dst)
	delete(p.conns, src)
}
