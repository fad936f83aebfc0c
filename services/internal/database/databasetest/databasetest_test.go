package databasetest_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/vidstream/vidstream/services/internal/database/databasetest"
)

// outcome records how a helper ended a (fake) test. Skip and Fatal must stop
// the helper like the real ones do, hence runtime.Goexit in a goroutine.
type outcome struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (o *outcome) Helper() {}
func (o *outcome) Skip(args ...any) {
	o.skipped, o.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (o *outcome) Fatal(args ...any) {
	o.failed, o.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (o *outcome) Fatalf(format string, args ...any) { o.Fatal(fmt.Sprintf(format, args...)) }

func run(tb testing.TB) *outcome {
	tb.Helper()
	o := &outcome{TB: tb}
	done := make(chan struct{})
	go func() {
		defer close(done)
		databasetest.PostgresURL(o)
	}()
	<-done
	return o
}

func TestPostgresWithoutURL(t *testing.T) {
	t.Setenv(databasetest.PostgresURLEnv, "")

	t.Setenv("CI", "")
	if o := run(t); !o.skipped || !strings.Contains(o.msg, databasetest.PostgresURLEnv) {
		t.Errorf("locally: skipped %v, failed %v, msg %q; want a skip naming %s", o.skipped, o.failed, o.msg, databasetest.PostgresURLEnv)
	}

	t.Setenv("CI", "true")
	if o := run(t); !o.failed || !strings.Contains(o.msg, "CI=true") {
		t.Errorf("on CI: skipped %v, failed %v, msg %q; want a failure", o.skipped, o.failed, o.msg)
	}
}

func TestPostgresBadURLIsNotEchoed(t *testing.T) {
	t.Setenv(databasetest.PostgresURLEnv, "postgres://u:hunter2@host:badport/db")
	o := run(t)
	if !o.failed || strings.Contains(o.msg, "hunter2") {
		t.Errorf("failed %v, msg %q; want a failure without the password", o.failed, o.msg)
	}
}
