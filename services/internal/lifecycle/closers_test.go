package lifecycle_test

import (
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/vidstream/vidstream/services/internal/lifecycle"
)

// construct stands for a constructor that opens a connection and a
// listener, then fails or not.
func construct(t *testing.T, fail bool) (err error) {
	var closers lifecycle.Closers
	defer closers.CloseOnError(&err)
	closers.Add(func() error { return errors.New("conn already gone") })
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closers.AddCloser("listener", ln)
	t.Cleanup(func() { _ = ln.Close() })
	if fail {
		// Already closed by whatever failed: closing again is no error.
		_ = ln.Close()
		return errors.New("bind grpc")
	}
	return nil
}

func TestClosersJoinCloseErrorsIntoTheFailure(t *testing.T) {
	if err := construct(t, false); err != nil {
		t.Fatalf("success: %v", err)
	}
	err := construct(t, true)
	if err == nil || err.Error() != "bind grpc\nconn already gone" {
		t.Errorf("error = %q, want the failure joined with the connection's close error only", err)
	}
}

func TestClosersOrderAndSuccess(t *testing.T) {
	var order []string
	var closers lifecycle.Closers
	closers.Add(func() error { order = append(order, "db"); return nil })
	closers.Add(func() error { order = append(order, "conn"); return nil })

	ok := error(nil)
	closers.CloseOnError(&ok)
	if ok != nil || len(order) != 0 {
		t.Fatalf("success closed %v (err %v), want nothing", order, ok)
	}
	failed := errors.New("bind grpc")
	closers.CloseOnError(&failed)
	if !slices.Equal(order, []string{"conn", "db"}) {
		t.Errorf("closed %v, want conn then db", order)
	}
}
