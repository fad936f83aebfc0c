package databasetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// adminTimeout bounds CREATE/DROP DATABASE, which wait for other sessions'
// locks on the template database.
const adminTimeout = 30 * time.Second

// PostgresURL creates an empty database named vidstream_test_<random> with
// the credentials of PostgresURLEnv, drops it when the test ends, and returns
// a URL for it. Most tests want Open; this is for tests of opening itself,
// such as several replicas migrating one database at once.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	adminURL := os.Getenv(PostgresURLEnv)
	if adminURL == "" {
		msg := PostgresURLEnv + " is not set; set it to a postgres:// URL of a role with CREATEDB " +
			"(`hack/postgres.sh start` runs a local server and prints one) to run the PostgreSQL tests"
		if os.Getenv("CI") == "true" {
			tb.Fatal("databasetest: CI=true but " + msg)
		}
		tb.Skip("databasetest: skipping PostgreSQL: " + msg)
	}

	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Not echoing the URL or url.Parse's error: both would print the
		// password.
		tb.Fatalf("databasetest: %s must be a postgres:// URL", PostgresURLEnv)
	}
	name := "vidstream_test_" + randomSuffix(tb)

	ctx, cancel := context.WithTimeout(tb.Context(), adminTimeout)
	defer cancel()
	if err := adminExec(ctx, adminURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("databasetest: create database %s: %v", name, err)
	}
	// Registered before Open registers db.Close, so it runs after it (cleanups
	// run last-in, first-out). FORCE still ends any session a leaked
	// connection keeps open, which would otherwise make DROP fail.
	tb.Cleanup(func() {
		// Not tb.Context(): it is canceled before cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		if err := adminExec(ctx, adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("databasetest: drop database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	return u.String()
}

// adminExec runs one statement on a short-lived connection to the admin
// database. CREATE/DROP DATABASE cannot run inside a transaction, so this
// uses pgx directly rather than database.DB.
func adminExec(ctx context.Context, adminURL, stmt string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return redact(fmt.Errorf("connect to %s: %w", PostgresURLEnv, err), adminURL)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return redact(err, adminURL)
	}
	return nil
}

// redact keeps the admin password out of test logs, which CI publishes.
func redact(err error, adminURL string) error {
	u, perr := url.Parse(adminURL)
	if perr != nil {
		return err
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), pw, "xxxxx"))
}

func randomSuffix(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("databasetest: random database name: %v", err)
	}
	return hex.EncodeToString(b)
}
