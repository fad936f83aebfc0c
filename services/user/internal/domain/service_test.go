package domain_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/user/internal/domain"
	"github.com/vidstream/vidstream/services/user/internal/store"
)

// cheapArgon2 keeps tests fast; production cost is a config concern.
var cheapArgon2 = domain.Argon2Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1}

// clock is a settable time source, so expiry and throttling windows are
// crossed by moving time, not by sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	svc   *domain.Service
	clock *clock
	relay *outbox.Relay
	pub   *recordingPublisher
}

// newFixture builds a Service with a settable clock over the real store and
// outbox; tests call it inside databasetest.ForEachBackend so every rule is
// checked on every database backend.
func newFixture(t *testing.T, db *database.DB, cfg domain.Config) fixture {
	t.Helper()
	c := &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	cfg.Now = c.Now
	cfg.Argon2 = cheapArgon2
	if err := outbox.Migrate(t.Context(), db); err != nil {
		t.Fatalf("migrate outbox: %v", err)
	}
	svc, err := domain.NewService(t.Context(), store.New(db, outbox.New(db, "/services/user", telemetry.Noop())), cfg)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	pub := &recordingPublisher{}
	return fixture{svc: svc, clock: c, pub: pub, relay: outbox.NewRelay(db, pub, telemetry.Noop(), outbox.RelayOptions{})}
}

// recordingPublisher stands in for Kafka: it keeps what the relay publishes.
type recordingPublisher struct {
	mu   sync.Mutex
	msgs []kafka.Message
}

func (p *recordingPublisher) Publish(_ context.Context, msgs ...kafka.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, msgs...)
	return nil
}

// published drains the outbox through the relay and returns the ce_type of
// every record published since the last call, in order.
func (f fixture) published(t *testing.T) []string {
	t.Helper()
	for {
		n, err := f.relay.RunOnce(t.Context())
		if err != nil {
			t.Fatalf("relay: %v", err)
		}
		if n == 0 {
			break
		}
	}
	f.pub.mu.Lock()
	defer f.pub.mu.Unlock()
	var types []string
	for _, m := range f.pub.msgs {
		for _, h := range m.Headers {
			if h.Key == "ce_type" {
				types = append(types, string(h.Value))
			}
		}
	}
	f.pub.msgs = nil
	return types
}

func register(t *testing.T, svc *domain.Service, email, password string) domain.User {
	t.Helper()
	u, err := svc.Register(context.Background(), domain.RegisterInput{Email: email, Password: password, DisplayName: "Ann"})
	if err != nil {
		t.Fatalf("Register(%s): %v", email, err)
	}
	return u
}

func wantKind(t *testing.T, err error, kind apperr.Kind) *apperr.Error {
	t.Helper()
	assertKind(t, err, kind)
	ae, _ := apperr.As(err)
	return ae
}

func assertKind(t *testing.T, err error, kind apperr.Kind) {
	t.Helper()
	if ae, ok := apperr.As(err); !ok || ae.Kind != kind {
		t.Fatalf("error = %v, want kind %s", err, kind)
	}
}

func fieldNames(e *apperr.Error) []string {
	var names []string
	for _, f := range e.Fields {
		names = append(names, f.Field)
	}
	return names
}

func TestRegisterValidation(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, domain.Config{})
		long := strings.Repeat("x", domain.MaxPasswordChars+1)
		for _, tc := range []struct {
			name string
			in   domain.RegisterInput
			want []string
		}{
			{"all empty", domain.RegisterInput{}, []string{"email", "password", "display_name"}},
			{"not an email", domain.RegisterInput{Email: "ann", Password: "password1", DisplayName: "Ann"}, []string{"email"}},
			{"email with name", domain.RegisterInput{Email: "Ann <ann@example.com>", Password: "password1", DisplayName: "Ann"}, []string{"email"}},
			{"email too long", domain.RegisterInput{Email: strings.Repeat("a", 250) + "@example.com", Password: "password1", DisplayName: "Ann"}, []string{"email"}},
			{"short password", domain.RegisterInput{Email: "ann@example.com", Password: "1234567", DisplayName: "Ann"}, []string{"password"}},
			{"long password", domain.RegisterInput{Email: "ann@example.com", Password: long, DisplayName: "Ann"}, []string{"password"}},
			{"blank display name", domain.RegisterInput{Email: "ann@example.com", Password: "password1", DisplayName: "  "}, []string{"display_name"}},
			{"control character", domain.RegisterInput{Email: "ann@example.com", Password: "password1", DisplayName: "A\x00nn"}, []string{"display_name"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.svc.Register(t.Context(), tc.in)
				e := wantKind(t, err, apperr.Invalid)
				if got := fieldNames(e); !slices.Equal(got, tc.want) {
					t.Errorf("fields = %v, want %v", got, tc.want)
				}
			})
		}
	})
}

func TestRegisterNormalisesEmail(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, domain.Config{})
		// Eight characters, counted as characters, not bytes.
		u := register(t, f.svc, "  Ann@Example.COM ", "pässwörd")
		if u.Email != "ann@example.com" {
			t.Errorf("email = %q, want it trimmed and lower-cased", u.Email)
		}
		if !u.CreatedAt.Equal(f.clock.Now()) {
			t.Errorf("created_at = %v, want the clock's %v", u.CreatedAt, f.clock.Now())
		}
		_, err := f.svc.Register(t.Context(), domain.RegisterInput{Email: "ANN@example.com", Password: "password2", DisplayName: "Other"})
		e := wantKind(t, err, apperr.Conflict)
		if got := fieldNames(e); !slices.Equal(got, []string{"email"}) {
			t.Errorf("conflict fields = %v", got)
		}
		if _, err := f.svc.Login(t.Context(), domain.LoginInput{Email: " ANN@EXAMPLE.com", Password: "pässwörd"}); err != nil {
			t.Errorf("login with a case variant of the email: %v", err)
		}
	})
}

func TestLoginAndAuthenticate(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, domain.Config{SessionTTL: time.Hour})
		ctx := t.Context()
		u := register(t, f.svc, "ann@example.com", "correct horse")

		_, wrongPw := f.svc.Login(ctx, domain.LoginInput{Email: "ann@example.com", Password: "wrong horse"})
		_, unknown := f.svc.Login(ctx, domain.LoginInput{Email: "bob@example.com", Password: "wrong horse"})
		a, b := wantKind(t, wrongPw, apperr.Unauthenticated), wantKind(t, unknown, apperr.Unauthenticated)
		if a.Message != b.Message {
			t.Errorf("wrong password says %q but unknown email says %q: that tells which emails exist", a.Message, b.Message)
		}
		_, err := f.svc.Login(ctx, domain.LoginInput{Email: strings.Repeat("a", 300) + "@example.com", Password: "x"})
		if got := fieldNames(wantKind(t, err, apperr.Invalid)); !slices.Equal(got, []string{"email"}) {
			t.Errorf("oversized login email fields = %v", got)
		}
		_, err = f.svc.Login(ctx, domain.LoginInput{})
		if got := fieldNames(wantKind(t, err, apperr.Invalid)); !slices.Equal(got, []string{"email", "password"}) {
			t.Errorf("empty login fields = %v", got)
		}

		s, err := f.svc.Login(ctx, domain.LoginInput{Email: "ann@example.com", Password: "correct horse"})
		if err != nil {
			t.Fatalf("Login: %v", err)
		}
		if s.UserID != u.ID || !s.ExpiresAt.Equal(f.clock.Now().Add(time.Hour)) || len(s.Token) != 43 {
			t.Errorf("session = %+v, want user %s, expiry in 1h, 43-char token", s, u.ID)
		}

		p, err := f.svc.Authenticate(ctx, s.Token)
		if err != nil || p.UserID != u.ID || !p.ExpiresAt.Equal(s.ExpiresAt) {
			t.Fatalf("Authenticate = %+v, %v", p, err)
		}
		assertKind(t, errOf(f.svc.Authenticate(ctx, "")), apperr.Invalid)
		assertKind(t, errOf(f.svc.Authenticate(ctx, "short")), apperr.Unauthenticated)
		assertKind(t, errOf(f.svc.Authenticate(ctx, strings.Repeat("A", 43))), apperr.Unauthenticated)

		// Valid up to the last microsecond, invalid from the expiry instant.
		f.clock.Advance(time.Hour - time.Microsecond)
		if _, err := f.svc.Authenticate(ctx, s.Token); err != nil {
			t.Errorf("token rejected before expiry: %v", err)
		}
		f.clock.Advance(time.Microsecond)
		assertKind(t, errOf(f.svc.Authenticate(ctx, s.Token)), apperr.Unauthenticated)
	})
}

func TestLogout(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, domain.Config{})
		ctx := t.Context()
		register(t, f.svc, "ann@example.com", "password1")
		s1, err1 := f.svc.Login(ctx, domain.LoginInput{Email: "ann@example.com", Password: "password1"})
		s2, err2 := f.svc.Login(ctx, domain.LoginInput{Email: "ann@example.com", Password: "password1"})
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("Login: %v", err)
		}
		if err := f.svc.Logout(ctx, s1.Token); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		assertKind(t, errOf(f.svc.Authenticate(ctx, s1.Token)), apperr.Unauthenticated)
		assertKind(t, f.svc.Logout(ctx, s1.Token), apperr.Unauthenticated)
		if _, err := f.svc.Authenticate(ctx, s2.Token); err != nil {
			t.Errorf("logging out one session ended another: %v", err)
		}
	})
}

func TestLoginThrottledPerEmail(t *testing.T) {
	cfg := domain.Config{LoginMaxFailures: 3, LoginFailureWindow: 10 * time.Minute}
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, cfg)
		ctx := t.Context()
		register(t, f.svc, "ann@example.com", "password1")
		bad := domain.LoginInput{Email: "ann@example.com", Password: "nope-nope", ClientIP: "192.0.2.1"}
		good := domain.LoginInput{Email: "ann@example.com", Password: "password1", ClientIP: "192.0.2.1"}

		for i := range 3 {
			assertKind(t, errOf(f.svc.Login(ctx, bad)), apperr.Unauthenticated)
			if i < 2 {
				f.clock.Advance(time.Minute)
			}
		}
		// Even the right password is refused while throttled: otherwise the
		// limiter would not slow a guesser down at all.
		e := wantKind(t, errOf(f.svc.Login(ctx, good)), apperr.TooManyRequests)
		// The first failure leaves the window 10 min after it, i.e. 8 min
		// from now.
		if e.RetryAfterSeconds != 8*60 {
			t.Errorf("RetryAfterSeconds = %d, want %d", e.RetryAfterSeconds, 8*60)
		}
		// Throttling is per email: another account on the same IP may log in.
		register(t, f.svc, "bob@example.com", "password2")
		if _, err := f.svc.Login(ctx, domain.LoginInput{Email: "bob@example.com", Password: "password2", ClientIP: "192.0.2.1"}); err != nil {
			t.Errorf("other email throttled too: %v", err)
		}
		// Unknown emails are throttled alike, so 429 does not reveal existence.
		for range 3 {
			assertKind(t, errOf(f.svc.Login(ctx, domain.LoginInput{Email: "ghost@example.com", Password: "x"})), apperr.Unauthenticated)
		}
		assertKind(t, errOf(f.svc.Login(ctx, domain.LoginInput{Email: "ghost@example.com", Password: "x"})), apperr.TooManyRequests)

		f.clock.Advance(8 * time.Minute)
		if _, err := f.svc.Login(ctx, good); err != nil {
			t.Fatalf("login after the oldest failure left the window: %v", err)
		}
		// A success resets the email's count: three more failures are
		// allowed before the next 429.
		for range 3 {
			assertKind(t, errOf(f.svc.Login(ctx, bad)), apperr.Unauthenticated)
		}
		assertKind(t, errOf(f.svc.Login(ctx, bad)), apperr.TooManyRequests)
	})
}

func TestLoginThrottledPerIP(t *testing.T) {
	cfg := domain.Config{LoginMaxFailures: 100, LoginMaxFailuresPerIP: 3}
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, cfg)
		ctx := t.Context()
		register(t, f.svc, "ann@example.com", "password1")
		for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
			assertKind(t, errOf(f.svc.Login(ctx, domain.LoginInput{Email: email, Password: "guess-guess", ClientIP: "198.51.100.7"})), apperr.Unauthenticated)
		}
		e := wantKind(t, errOf(f.svc.Login(ctx, domain.LoginInput{Email: "ann@example.com", Password: "password1", ClientIP: "198.51.100.7"})), apperr.TooManyRequests)
		if e.RetryAfterSeconds != 15*60 {
			t.Errorf("RetryAfterSeconds = %d, want the default 15 min window", e.RetryAfterSeconds)
		}
		if _, err := f.svc.Login(ctx, domain.LoginInput{Email: "ann@example.com", Password: "password1", ClientIP: "198.51.100.8"}); err != nil {
			t.Errorf("another IP is throttled too: %v", err)
		}
	})
}

func TestBatchGetUsers(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, domain.Config{})
		ctx := t.Context()
		a := register(t, f.svc, "a@example.com", "password1")
		b := register(t, f.svc, "b@example.com", "password1")
		ghost := uuid.New()

		found, missing, err := f.svc.BatchGetUsers(ctx, []uuid.UUID{b.ID, ghost, a.ID, b.ID})
		if err != nil {
			t.Fatalf("BatchGetUsers: %v", err)
		}
		if len(found) != 2 || found[0].ID != b.ID || found[1].ID != a.ID {
			t.Errorf("found = %+v, want b then a, once each", found)
		}
		if !slices.Equal(missing, []uuid.UUID{ghost}) {
			t.Errorf("missing = %v, want [%s]", missing, ghost)
		}
		if _, _, err := f.svc.BatchGetUsers(ctx, make([]uuid.UUID, domain.MaxBatchGetUsers+1)); apperr.KindOf(err) != apperr.Invalid {
			t.Errorf("101 ids: error = %v, want Invalid", err)
		}
		found, missing, err = f.svc.BatchGetUsers(ctx, nil)
		if err != nil || len(found) != 0 || len(missing) != 0 {
			t.Errorf("no ids = %v, %v, %v", found, missing, err)
		}
	})
}

func TestDeleteUser(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, domain.Config{})
		ctx := t.Context()
		u := register(t, f.svc, "ann@example.com", "password1")
		s, err := f.svc.Login(ctx, domain.LoginInput{Email: "ann@example.com", Password: "password1"})
		if err != nil {
			t.Fatalf("Login: %v", err)
		}
		if err := f.svc.DeleteUser(ctx, u.ID); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		assertKind(t, errOf(f.svc.Authenticate(ctx, s.Token)), apperr.Unauthenticated)
		assertKind(t, errOf(f.svc.GetUser(ctx, u.ID)), apperr.NotFound)
		assertKind(t, f.svc.DeleteUser(ctx, u.ID), apperr.NotFound)
	})
}

func TestHashingHonoursContext(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, domain.Config{MaxConcurrentHashes: 1})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := f.svc.Register(ctx, domain.RegisterInput{Email: "ann@example.com", Password: "password1", DisplayName: "Ann"})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Register with a canceled context: %v, want context.Canceled", err)
		}
	})
}

func errOf[T any](_ T, err error) error { return err }

// Each committed account change publishes its event; failed or read-only
// operations publish nothing. (The wire format and the Kafka side are
// covered by the store and app tests.)
func TestEvents(t *testing.T) {
	databasetest.ForEachBackend(t, store.Migrations(), func(t *testing.T, db *database.DB) {
		f := newFixture(t, db, domain.Config{})
		ctx := t.Context()
		want := func(step string, types ...string) {
			t.Helper()
			if got := f.published(t); !slices.Equal(got, types) {
				t.Errorf("%s published %q, want %q", step, got, types)
			}
		}

		u := register(t, f.svc, "ann@example.com", "password1")
		want("Register", "vidstream.users.v1.UserCreated")

		_, err := f.svc.Register(ctx, domain.RegisterInput{Email: "ann@example.com", Password: "password2", DisplayName: "Twin"})
		assertKind(t, err, apperr.Conflict)
		_, err = f.svc.Register(ctx, domain.RegisterInput{Email: "bad", Password: "x", DisplayName: ""})
		assertKind(t, err, apperr.Invalid)
		want("rejected sign-ups")

		if _, err := f.svc.Login(ctx, domain.LoginInput{Email: "ann@example.com", Password: "password1"}); err != nil {
			t.Fatalf("Login: %v", err)
		}
		want("Login")

		if err := f.svc.DeleteUser(ctx, u.ID); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		want("DeleteUser", "vidstream.users.v1.UserDeleted")
		assertKind(t, f.svc.DeleteUser(ctx, u.ID), apperr.NotFound)
		want("DeleteUser of a deleted user")
	})
}
