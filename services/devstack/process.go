package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// proc is one child process: a service, Jaeger or the broker.
type proc struct {
	name  string
	order int
	cmd   *exec.Cmd
	// logPath is the file receiving the child's raw output.
	logPath string
	tail    *tail

	// done is closed when the process has exited and its output is drained;
	// err then holds how it ended.
	done chan struct{}
	err  error
	// stopping is set before devstack stops the process on purpose, so its
	// exit is not reported as a crash.
	mu       sync.Mutex
	stopping bool
}

// procSpec is what to start.
type procSpec struct {
	name string
	// order ranks the process in the stack: processes stop from the
	// highest to the lowest, whatever order they happened to start in.
	order int
	path  string
	args  []string
	env   []string
	dir   string
}

// startProc starts spec as a child whose output (stdout and stderr, as
// lines) goes both to the console, prefixed, and to <logDir>/<name>.log.
func startProc(sp *spawner, spec procSpec, console *console, logDir string) (*proc, error) {
	if err := os.MkdirAll(logDir, 0o750); err != nil { //nolint:gosec // G703: the data directory is the user's choice
		return nil, fmt.Errorf("%s: log directory: %w", spec.name, err)
	}
	logPath := filepath.Join(logDir, spec.name+".log")
	// Truncated on every run: the log of the current run is the useful one,
	// and an ever-growing file under .data/ is not.
	logFile, err := os.Create(logPath) //nolint:gosec // G304: the path is built from devstack's own data directory
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", spec.name, err)
	}

	// Not CommandContext: a canceled context would SIGKILL the child at
	// once, where stop gives it SIGTERM and time to drain first.
	//nolint:gosec,noctx // G204: devstack runs the binaries it built or was told to run
	cmd := exec.Command(spec.path, spec.args...)
	cmd.Env = spec.env
	cmd.Dir = spec.dir
	t := newTail(40)
	out := newLineWriter(func(line string) {
		_, _ = io.WriteString(logFile, line+"\n")
		t.add(line)
		console.logLine(spec.name, line)
	})
	cmd.Stdout = out
	cmd.Stderr = out
	// Bounds the wait for the output pipes after the process exits: a
	// grandchild that inherited them must not hang devstack.
	cmd.WaitDelay = 2 * time.Second
	isolate(cmd)

	if err := sp.start(cmd); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s (%s): %w", spec.name, spec.path, err)
	}
	p := &proc{name: spec.name, order: spec.order, cmd: cmd, logPath: logPath, tail: t, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		out.flush()
		_ = logFile.Close()
		p.err = err
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) isStopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopping
}

// stop asks the process group to terminate, waits up to timeout, then kills
// it. It returns how the process ended; a process that exits because it
// was asked to is not an error.
func (p *proc) stop(timeout time.Duration) error {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	if p.exited() {
		return p.exitError()
	}
	if err := terminate(p.cmd.Process); err != nil {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.exitError()
	case <-timer.C:
	}
	if err := kill(p.cmd.Process); err != nil {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-p.done
	return fmt.Errorf("%s did not stop within %s and was killed", p.name, timeout)
}

// exitError is the process's exit status as an error, or nil for a clean
// exit (status 0, or the SIGTERM devstack sent).
func (p *proc) exitError() error {
	<-p.done
	if p.err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && p.isStopping() && terminatedBySignal(ee) {
		return nil
	}
	return fmt.Errorf("%s: %w", p.name, p.err)
}

// crashReport describes an unexpected exit, with the last lines of output,
// which usually say why.
func (p *proc) crashReport() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s exited unexpectedly: %v\n", p.name, p.err)
	lines := p.tail.lines()
	if len(lines) > 0 {
		fmt.Fprintf(&b, "last lines of its output (all of it: %s):\n", p.logPath)
		for _, l := range lines {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// waitAny returns the first of procs to exit, or nil when ctx is done.
func waitAny(ctx context.Context, procs []*proc) *proc {
	exited := make(chan *proc, len(procs))
	stop := make(chan struct{})
	defer close(stop)
	for _, p := range procs {
		go func() {
			select {
			case <-p.done:
				exited <- p
			case <-stop:
			}
		}()
	}
	select {
	case p := <-exited:
		return p
	case <-ctx.Done():
		return nil
	}
}

// tail keeps the last lines a process wrote.
type tail struct {
	mu  sync.Mutex
	buf []string
	max int
}

func newTail(n int) *tail { return &tail{max: n} }

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, line)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
}

func (t *tail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.buf...)
}

// lineWriter splits what a process writes into lines. exec.Cmd calls Write
// from one goroutine per pipe; both pipes share one lineWriter (so stdout
// and stderr interleave by line, not by byte), hence the lock.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

// maxLine bounds a line kept in memory; longer ones are emitted in pieces.
const maxLine = 64 << 10

func newLineWriter(emit func(string)) *lineWriter { return &lineWriter{emit: emit} }

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > maxLine {
		w.emit(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(b), nil
}

// flush emits a last line that had no newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}
