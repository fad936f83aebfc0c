package loopback_test

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/vidstream/vidstream/services/internal/loopback"
)

func TestFreeAddrIsBindableAndRefusesConnections(t *testing.T) {
	addr := loopback.FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr = %q, want a 127.0.0.1 address", addr)
	}
	var d net.Dialer
	if _, err := d.DialContext(t.Context(), "tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s: %v, want connection refused", addr, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("bind %s: %v", addr, err)
	}
	_ = ln.Close()
	if p := loopback.FreePort(t); p <= 0 || p > 65535 {
		t.Errorf("FreePort = %d", p)
	}
}
