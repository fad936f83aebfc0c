package domain

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
	"github.com/vidstream/vidstream/services/internal/ids"
)

// Input limits. Passwords get a generous maximum: argon2id pre-hashes its
// input, so unlike bcrypt there is no 72-byte truncation to guard against,
// only absurd inputs to refuse.
const (
	MinPasswordChars    = 8
	MaxPasswordChars    = 256
	MaxEmailBytes       = 254 // RFC 5321 path limit
	MaxDisplayNameChars = 64
	MaxBatchGetUsers    = 100

	tokenBytes = 32
	// tokenLen is the length of a base64url (unpadded) 32-byte token; other
	// lengths cannot be ours, so they are refused without a database trip.
	tokenLen = 43
)

// Config tunes the Service. Zero values get the documented defaults, except
// Now, which defaults to time.Now.
type Config struct {
	// SessionTTL is how long a login token is valid (default 24h).
	SessionTTL time.Duration
	// LoginMaxFailures is how many failed logins for one email within
	// LoginFailureWindow trigger throttling (default 5; negative disables).
	LoginMaxFailures int
	// LoginMaxFailuresPerIP is the same per client IP (default 50; negative
	// disables). It is higher because many users can share an address (NAT).
	LoginMaxFailuresPerIP int
	// LoginFailureWindow is the sliding window for both limits (default 15m).
	LoginFailureWindow time.Duration
	// Argon2 are the cost parameters for new password hashes (default
	// DefaultArgon2Params). Tests use cheap ones.
	Argon2 Argon2Params
	// MaxConcurrentHashes bounds argon2id computations in flight (default
	// GOMAXPROCS).
	MaxConcurrentHashes int
	// Now is the clock; injectable so expiry and throttling are testable
	// without sleeping.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.SessionTTL == 0 {
		c.SessionTTL = 24 * time.Hour
	}
	if c.LoginMaxFailures == 0 {
		c.LoginMaxFailures = 5
	}
	if c.LoginMaxFailuresPerIP == 0 {
		c.LoginMaxFailuresPerIP = 50
	}
	if c.LoginFailureWindow == 0 {
		c.LoginFailureWindow = 15 * time.Minute
	}
	if c.Argon2 == (Argon2Params{}) {
		c.Argon2 = DefaultArgon2Params
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Service implements the user service's use cases for every transport.
type Service struct {
	store  Store
	cfg    Config
	hasher *passwordHasher
	// dummyHash is verified against when a login names an unknown email, so
	// that answer costs the same argon2id work as a wrong password and
	// response times don't reveal which emails have accounts.
	dummyHash string
}

// NewService builds a Service over store. ctx bounds the one-off work of
// preparing the dummy password hash.
func NewService(ctx context.Context, store Store, cfg Config) (*Service, error) {
	cfg = cfg.withDefaults()
	if cfg.SessionTTL < 0 || cfg.LoginFailureWindow < 0 {
		return nil, fmt.Errorf("user service config: durations must be positive (session ttl %s, login failure window %s)", cfg.SessionTTL, cfg.LoginFailureWindow)
	}
	h, err := newPasswordHasher(cfg.Argon2, cfg.MaxConcurrentHashes)
	if err != nil {
		return nil, fmt.Errorf("user service config: %w", err)
	}
	dummy, err := h.hash(ctx, rand.Text())
	if err != nil {
		return nil, fmt.Errorf("user service: compute dummy password hash: %w", err)
	}
	return &Service{store: store, cfg: cfg, hasher: h, dummyHash: dummy}, nil
}

// now is truncated to microseconds, the precision both database backends
// keep, so a value the service returns equals the one read back later.
func (s *Service) now() time.Time {
	return s.cfg.Now().UTC().Truncate(time.Microsecond)
}

// RegisterInput is a new account's data as a client sent it.
type RegisterInput struct {
	Email       string
	Password    string
	DisplayName string
}

// Register creates an account. Emails are normalised (trimmed, lower-cased)
// so "Ann@Example.com" and "ann@example.com " are the same account.
func (s *Service) Register(ctx context.Context, in RegisterInput) (User, error) {
	email, emailErr := NormalizeEmail(in.Email)
	displayName := strings.TrimSpace(in.DisplayName)
	var fields []apperr.FieldError
	if emailErr != "" {
		fields = append(fields, apperr.FieldError{Field: "email", Detail: emailErr})
	}
	if d := validatePassword(in.Password); d != "" {
		fields = append(fields, apperr.FieldError{Field: "password", Detail: d})
	}
	if d := validateDisplayName(displayName); d != "" {
		fields = append(fields, apperr.FieldError{Field: "display_name", Detail: d})
	}
	if len(fields) > 0 {
		return User{}, invalidFields(fields)
	}

	hash, err := s.hasher.hash(ctx, in.Password)
	if err != nil {
		return User{}, fmt.Errorf("register: %w", err)
	}
	id, err := uuid.NewV7() // time-ordered ids keep the primary key index append-mostly
	if err != nil {
		return User{}, fmt.Errorf("register: new user id: %w", err)
	}
	u := User{ID: id, Email: email, DisplayName: displayName, PasswordHash: hash, CreatedAt: s.now()}
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return tx.Emit(ctx, UserCreated{UserID: u.ID, DisplayName: u.DisplayName, CreatedAt: u.CreatedAt})
	})
	if errors.Is(err, ErrDuplicate) {
		return User{}, &apperr.Error{
			Kind:    apperr.Conflict,
			Message: "email is already registered",
			Fields:  []apperr.FieldError{{Field: "email", Detail: "is already registered"}},
		}
	}
	if err != nil {
		return User{}, fmt.Errorf("register: create user: %w", err)
	}
	return u, nil
}

// LoginInput is a login attempt. ClientIP, when known, is throttled too, so
// one client cannot spray guesses across many emails.
type LoginInput struct {
	Email    string
	Password string
	ClientIP string
}

var errBadCredentials = apperr.New(apperr.Unauthenticated, "invalid email or password")

// Login checks credentials and opens a session. Unknown emails and wrong
// passwords get the same error after the same argon2id work. Repeated
// failures per email and per client IP are throttled with a sliding window
// kept in the database, so the limit holds across replicas.
func (s *Service) Login(ctx context.Context, in LoginInput) (NewSession, error) {
	var fields []apperr.FieldError
	switch email := normalizeEmailLoose(in.Email); {
	case email == "":
		fields = append(fields, apperr.FieldError{Field: "email", Detail: "is required"})
	case len(email) > MaxEmailBytes:
		// No account can have it, and it would become a throttling key
		// stored in the database.
		fields = append(fields, apperr.FieldError{Field: "email", Detail: fmt.Sprintf("must be at most %d bytes", MaxEmailBytes)})
	}
	if in.Password == "" {
		fields = append(fields, apperr.FieldError{Field: "password", Detail: "is required"})
	}
	if len(fields) > 0 {
		return NewSession{}, invalidFields(fields)
	}
	email := normalizeEmailLoose(in.Email)
	now := s.now()

	keys := []string{"email:" + email}
	if in.ClientIP != "" {
		keys = append(keys, "ip:"+in.ClientIP)
	}
	if err := s.checkThrottle(ctx, now, email, in.ClientIP); err != nil {
		return NewSession{}, err
	}

	u, err := s.store.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, ErrNotFound):
		if _, err := s.hasher.verify(ctx, in.Password, s.dummyHash); err != nil {
			return NewSession{}, fmt.Errorf("login: %w", err)
		}
		return NewSession{}, s.loginFailed(ctx, keys, now)
	case err != nil:
		return NewSession{}, fmt.Errorf("login: find user: %w", err)
	}
	ok, err := s.hasher.verify(ctx, in.Password, u.PasswordHash)
	if err != nil {
		return NewSession{}, fmt.Errorf("login: %w", err)
	}
	if !ok {
		return NewSession{}, s.loginFailed(ctx, keys, now)
	}

	token, hash := newToken()
	sess := Session{TokenHash: hash, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Tx) error {
		// A success forgets the email's failures (not the IP's: one valid
		// account must not reset a guessing client's budget).
		if err := tx.ClearLoginFailures(ctx, keys[0]); err != nil {
			return err
		}
		if err := tx.DeleteExpiredSessions(ctx, u.ID, now); err != nil {
			return err
		}
		return tx.CreateSession(ctx, sess)
	})
	if err != nil {
		return NewSession{}, fmt.Errorf("login: create session: %w", err)
	}
	return NewSession{Token: token, UserID: u.ID, ExpiresAt: sess.ExpiresAt}, nil
}

func (s *Service) loginFailed(ctx context.Context, keys []string, now time.Time) error {
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Tx) error {
		return tx.RecordLoginFailure(ctx, keys, now, now.Add(-s.cfg.LoginFailureWindow))
	})
	if err != nil {
		return fmt.Errorf("login: record failure: %w", err)
	}
	return errBadCredentials
}

// checkThrottle refuses an attempt when the email or the client IP has
// reached its failure limit within the window. Concurrent attempts can
// overshoot the limit by the number in flight; that is acceptable for a
// guessing brake and avoids serializing every login.
func (s *Service) checkThrottle(ctx context.Context, now time.Time, email, ip string) error {
	var retryAt time.Time
	check := func(key string, limit int) error {
		if limit <= 0 {
			return nil
		}
		times, err := s.store.RecentLoginFailures(ctx, key, now.Add(-s.cfg.LoginFailureWindow), limit)
		if err != nil {
			return fmt.Errorf("login: read failures: %w", err)
		}
		if len(times) < limit {
			return nil
		}
		// The attempt is allowed again once the limit-th newest failure
		// leaves the window.
		if at := times[limit-1].Add(s.cfg.LoginFailureWindow); at.After(retryAt) {
			retryAt = at
		}
		return nil
	}
	if err := check("email:"+email, s.cfg.LoginMaxFailures); err != nil {
		return err
	}
	if ip != "" {
		if err := check("ip:"+ip, s.cfg.LoginMaxFailuresPerIP); err != nil {
			return err
		}
	}
	if retryAt.IsZero() {
		return nil
	}
	secs := max(int(math.Ceil(retryAt.Sub(now).Seconds())), 1)
	return &apperr.Error{
		Kind:              apperr.TooManyRequests,
		Message:           "too many failed login attempts; try again later",
		RetryAfterSeconds: secs,
	}
}

var errBadToken = apperr.New(apperr.Unauthenticated, "invalid or expired token")

// Authenticate resolves a bearer token to its user. Unknown, logged-out and
// expired tokens all get the same answer.
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, apperr.InvalidField("token", "is required")
	}
	if len(token) != tokenLen {
		return Principal{}, errBadToken
	}
	sess, err := s.store.SessionByTokenHash(ctx, hashToken(token))
	if errors.Is(err, ErrNotFound) {
		return Principal{}, errBadToken
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: find session: %w", err)
	}
	if !s.now().Before(sess.ExpiresAt) {
		return Principal{}, errBadToken
	}
	return Principal{UserID: sess.UserID, ExpiresAt: sess.ExpiresAt}, nil
}

// Logout deletes the token's session. Every service checks tokens against
// this database (directly or over gRPC), so the token stops working
// everywhere at once.
func (s *Service) Logout(ctx context.Context, token string) error {
	if len(token) != tokenLen {
		return errBadToken
	}
	var deleted bool
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		deleted, err = tx.DeleteSession(ctx, hashToken(token))
		return err
	})
	if err != nil {
		return fmt.Errorf("logout: delete session: %w", err)
	}
	if !deleted {
		return errBadToken
	}
	return nil
}

// GetUser returns one user.
func (s *Service) GetUser(ctx context.Context, id uuid.UUID) (User, error) {
	u, err := s.store.UserByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return User{}, apperr.New(apperr.NotFound, "user not found")
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	return u, nil
}

// BatchGetUsers returns the users that exist, in the order asked for, and
// the ids that don't. Duplicate ids are answered once.
func (s *Service) BatchGetUsers(ctx context.Context, want []uuid.UUID) (found []User, missing []uuid.UUID, err error) {
	found, missing, err = ids.Lookup(ctx, want, MaxBatchGetUsers, s.store.UsersByIDs, func(u User) uuid.UUID { return u.ID })
	if err != nil {
		return nil, nil, fmt.Errorf("batch get %d users: %w", len(want), err)
	}
	return found, missing, nil
}

// DeleteUser deletes the account and all of its sessions, and emits
// UserDeleted, in one transaction.
func (s *Service) DeleteUser(ctx context.Context, id uuid.UUID) error {
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.DeleteUser(ctx, id); err != nil {
			return err
		}
		return tx.Emit(ctx, UserDeleted{UserID: id, DeletedAt: s.now()})
	})
	if errors.Is(err, ErrNotFound) {
		return apperr.New(apperr.NotFound, "user not found")
	}
	if err != nil {
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	return nil
}

// NormalizeEmail trims and lower-cases an address and checks that it is a
// bare RFC 5322 address. It returns the normalised address, or a
// caller-safe reason it is not acceptable.
func NormalizeEmail(raw string) (string, string) {
	email := normalizeEmailLoose(raw)
	switch {
	case email == "":
		return "", "is required"
	case len(email) > MaxEmailBytes:
		return "", fmt.Sprintf("must be at most %d bytes", MaxEmailBytes)
	}
	addr, err := mail.ParseAddress(email)
	// ParseAddress also accepts `Name <a@b>`; only a bare address is an
	// account identifier.
	if err != nil || addr.Address != email || addr.Name != "" {
		return "", "must be a valid email address"
	}
	return email, ""
}

func normalizeEmailLoose(raw string) string {
	return strings.ToLower(strings.TrimSpace(raw))
}

func validatePassword(p string) string {
	n := utf8.RuneCountInString(p)
	switch {
	case p == "":
		return "is required"
	case n < MinPasswordChars:
		return fmt.Sprintf("must be at least %d characters", MinPasswordChars)
	case n > MaxPasswordChars:
		return fmt.Sprintf("must be at most %d characters", MaxPasswordChars)
	}
	return ""
}

func validateDisplayName(name string) string {
	switch {
	case name == "":
		return "is required"
	case utf8.RuneCountInString(name) > MaxDisplayNameChars:
		return fmt.Sprintf("must be at most %d characters", MaxDisplayNameChars)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "must not contain control characters"
	}
	return ""
}

func invalidFields(fields []apperr.FieldError) *apperr.Error {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Field
	}
	return &apperr.Error{Kind: apperr.Invalid, Message: "invalid " + strings.Join(names, ", "), Fields: fields}
}

func newToken() (token string, hash []byte) {
	b := make([]byte, tokenBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
