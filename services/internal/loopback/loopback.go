// Package loopback gives tests addresses on 127.0.0.1, where every network
// test of this repository listens and dials.
package loopback

import (
	"net"
	"testing"
)

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago:
// nothing listens on it, so a client dialling it is refused, and a server
// the test starts next can bind it (the kernel does not hand the same
// ephemeral port out again at once).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(tb.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("loopback: reserve a port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatalf("loopback: release %s: %v", addr, err)
	}
	return addr
}

// FreePort is FreeAddr's port.
func FreePort(tb testing.TB) int {
	tb.Helper()
	addr, err := net.ResolveTCPAddr("tcp", FreeAddr(tb))
	if err != nil {
		tb.Fatalf("loopback: %v", err)
	}
	return addr.Port
}
