package grpcx_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// TestStopIsNotHeldByAConnectionThatNeverSpeaks: a client that opens a
// TCP connection and never sends the HTTP/2 preface (a port probe, a
// stalled peer) is dropped after the handshake timeout, so Server.Stop
// returns instead of waiting grpc-go's default two minutes for it.
func TestStopIsNotHeldByAConnectionThatNeverSpeaks(t *testing.T) {
	srv, _ := grpcx.NewServer(telemetry.Noop())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	conn, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The server sends its SETTINGS, then closes the silent connection
	// once the handshake times out: reading ends at EOF (the deadline only
	// bounds the test).
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("the silent connection was not closed by the server: %v", err)
	}

	stopped := make(chan struct{})
	go func() { srv.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("Stop did not return")
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
