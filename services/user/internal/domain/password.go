package domain

import (
	"context"
	"fmt"
	"runtime"

	"github.com/alexedwards/argon2id"
)

// Argon2Params are the argon2id cost parameters for new hashes. Existing
// hashes carry their own parameters in the PHC string, so changing these
// only affects passwords set afterwards.
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// DefaultArgon2Params follows the OWASP Password Storage Cheat Sheet's
// argon2id option of 19 MiB, 2 iterations, 1 lane: strong enough against
// GPU guessing while keeping a login at roughly tens of milliseconds and
// ~19 MiB, which matters because the pod's memory limit is small and logins
// can arrive concurrently.
var DefaultArgon2Params = Argon2Params{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1}

// passwordHasher hashes and verifies passwords with argon2id. Hashing is
// memory-hard on purpose, so the number of hashes in flight is bounded: a
// burst of logins then queues (honoring the request's context) instead of
// multiplying memory use until the process is OOM-killed.
type passwordHasher struct {
	params *argon2id.Params
	slots  chan struct{}
}

func newPasswordHasher(p Argon2Params, maxConcurrent int) (*passwordHasher, error) {
	if p.MemoryKiB < 8*uint32(p.Parallelism) || p.Iterations < 1 || p.Parallelism < 1 {
		return nil, fmt.Errorf("argon2id parameters out of range: memory=%d KiB iterations=%d parallelism=%d", p.MemoryKiB, p.Iterations, p.Parallelism)
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	return &passwordHasher{
		params: &argon2id.Params{
			Memory:      p.MemoryKiB,
			Iterations:  p.Iterations,
			Parallelism: p.Parallelism,
			SaltLength:  16,
			KeyLength:   32,
		},
		slots: make(chan struct{}, maxConcurrent),
	}, nil
}

func (h *passwordHasher) acquire(ctx context.Context) error {
	// Checked first because select picks at random among ready cases: a
	// request already abandoned must not start a hash.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wait for a password hashing slot: %w", err)
	}
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for a password hashing slot: %w", ctx.Err())
	}
}

func (h *passwordHasher) release() { <-h.slots }

func (h *passwordHasher) hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	s, err := argon2id.CreateHash(password, h.params)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return s, nil
}

func (h *passwordHasher) verify(ctx context.Context, password, hash string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	return ok, nil
}
