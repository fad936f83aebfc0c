package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"net"
)

// Closers collects what a constructor has opened so far (a database, a
// client connection, a bound listener), so that a failure part-way closes
// it all again, last opened first:
//
//	var closers lifecycle.Closers
//	defer closers.CloseOnError(&err)
//	db, err := database.Open(...)
//	...
//	closers.Add(db.Close)
//
// On success the opened things belong to what the constructor returns.
type Closers struct {
	fns []func() error
}

// Add registers closeFn to run if the constructor fails.
func (c *Closers) Add(closeFn func() error) { c.fns = append(c.fns, closeFn) }

// AddCloser registers closer, to be closed with CloseNamed.
func (c *Closers) AddCloser(name string, closer io.Closer) {
	c.Add(func() error { return CloseNamed(name, closer) })
}

// CloseNamed closes closer, naming it in the error. Closing what is
// already closed (net.ErrClosed: a listener its server shut) is not an
// error.
func CloseNamed(name string, closer io.Closer) error {
	if err := closer.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close %s: %w", name, err)
	}
	return nil
}

// CloseOnError closes everything registered, in reverse order, when *errp
// is not nil, joining the close errors into it. Defer it with the
// constructor's named error result.
func (c *Closers) CloseOnError(errp *error) {
	if *errp == nil {
		return
	}
	for i := len(c.fns) - 1; i >= 0; i-- {
		*errp = errors.Join(*errp, c.fns[i]())
	}
}
