// Package peerauth proves, on every gRPC call between services, which
// service is calling, and lets each method accept only the callers that need
// it.
//
// Each service holds its own private key (Ed25519, or the RSA or ECDSA key
// of a certificate) and the public keys of the services it accepts calls
// from. A caller signs a short-lived token naming
// itself (sub), the service it calls (aud) and an expiry, and sends it as
// per-RPC metadata; the server checks the signature against the public key
// of the claimed caller, the audience against its own name and the expiry
// against its clock. Holding a public key lets a service verify, never sign,
// so a compromised service cannot pose as another one. docs/decisions.md
// says why tokens rather than mTLS.
package peerauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// MetadataKey carries the token. It is not "authorization", which belongs to
// end users: a call may carry both, the user's identity and the service's.
const MetadataKey = "x-service-token"

// TokenTTL is how long a token is valid. Short, so a token read from a log
// or a capture is useless soon; the signer renews it long before.
const TokenTTL = time.Minute

// clockSkew is how far a verifier tolerates a signer's clock ahead of its own.
const clockSkew = 10 * time.Second

type claims struct {
	Sub string `json:"sub"`
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Iat int64  `json:"iat"`
}

// Sign returns a token by which service self, holding key, calls audience,
// valid until now+TokenTTL.
func Sign(key crypto.Signer, self, audience string, now time.Time) (string, error) {
	payload, err := json.Marshal(claims{Sub: self, Aud: audience, Iat: now.Unix(), Exp: now.Add(TokenTTL).Unix()})
	if err != nil {
		return "", fmt.Errorf("encode service token: %w", err)
	}
	enc := base64.RawURLEncoding
	body := enc.EncodeToString(payload)
	var sig []byte
	switch k := key.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(body))
	case *rsa.PrivateKey:
		digest := sha256.Sum256([]byte(body))
		sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, digest[:], nil)
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256([]byte(body))
		sig, err = ecdsa.SignASN1(rand.Reader, k, digest[:])
	default:
		err = fmt.Errorf("unsupported key type %T", key)
	}
	if err != nil {
		return "", fmt.Errorf("sign service token: %w", err)
	}
	return body + "." + enc.EncodeToString(sig), nil
}

// verifySignature dispatches on the caller's key type, which its
// configuration fixes: a token cannot choose its own algorithm.
func verifySignature(pub crypto.PublicKey, body, sig []byte) bool {
	digest := sha256.Sum256(body)
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k, body, sig)
	case *rsa.PublicKey:
		return rsa.VerifyPSS(k, crypto.SHA256, digest[:], sig, nil) == nil
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, digest[:], sig)
	default:
		return false
	}
}

// Errors of Verify; the server interceptor answers UNAUTHENTICATED for all.
var (
	ErrMalformed     = errors.New("malformed service token")
	ErrUnknownCaller = errors.New("service token from an unknown caller")
	ErrBadSignature  = errors.New("service token signature does not verify")
	ErrWrongAudience = errors.New("service token addressed to another service")
	ErrExpired       = errors.New("service token expired")
)

// Verify checks token for service self against the callers' public keys and
// returns the calling service's name.
func Verify(token, self string, callers map[string]crypto.PublicKey, now time.Time) (string, error) {
	body, sig, ok := strings.Cut(token, ".")
	if !ok {
		return "", ErrMalformed
	}
	enc := base64.RawURLEncoding
	payload, err := enc.DecodeString(body)
	if err != nil {
		return "", ErrMalformed
	}
	rawSig, err := enc.DecodeString(sig)
	if err != nil || len(rawSig) == 0 {
		return "", ErrMalformed
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil || c.Sub == "" {
		return "", ErrMalformed
	}
	pub, known := callers[c.Sub]
	if !known {
		return "", fmt.Errorf("%w %q", ErrUnknownCaller, c.Sub)
	}
	if !verifySignature(pub, []byte(body), rawSig) {
		return "", ErrBadSignature
	}
	if c.Aud != self {
		return "", fmt.Errorf("%w (%q)", ErrWrongAudience, c.Aud)
	}
	if now.After(time.Unix(c.Exp, 0)) || time.Unix(c.Iat, 0).After(now.Add(clockSkew)) {
		return "", ErrExpired
	}
	return c.Sub, nil
}

// Credentials is the client side: grpc.WithPerRPCCredentials(creds) signs
// every call to audience as self, reusing a token for half its life.
type Credentials struct {
	key      crypto.Signer
	self     string
	audience string
	now      func() time.Time

	mu      sync.Mutex
	token   string
	renewAt time.Time
}

// NewCredentials signs calls to audience as self with key.
func NewCredentials(key crypto.Signer, self, audience string) *Credentials {
	return &Credentials{key: key, self: self, audience: audience, now: time.Now}
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c *Credentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.token == "" || !now.Before(c.renewAt) {
		tok, err := Sign(c.key, c.self, c.audience, now)
		if err != nil {
			return nil, err
		}
		c.token, c.renewAt = tok, now.Add(TokenTTL/2)
	}
	return map[string]string{MetadataKey: c.token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials. The
// token is bound to one audience and lives a minute; transport encryption
// inside the cluster is the mesh's job (see grpcx.Dial), so plaintext
// connections may carry it.
func (*Credentials) RequireTransportSecurity() bool { return false }

// Policy is the server side: which callers may call which method.
type Policy struct {
	// Self is this service's name, the audience its callers sign for.
	Self string
	// Callers are the public keys of the services that may call at all.
	Callers map[string]crypto.PublicKey
	// Allow maps a full method name ("/vidstream.user.v1.UserService/GetUser")
	// to the callers allowed to call it. A method not listed is refused to
	// every caller: a new method is closed until someone opens it.
	Allow map[string][]string
	// Public are method-name prefixes anyone may call without a token:
	// health checks (the kubelet has no key) and reflection.
	Public []string

	now func() time.Time
}

// DefaultPublic are the prefixes of gRPC health and reflection.
var DefaultPublic = []string{"/grpc.health.v1.Health/", "/grpc.reflection."}

type callerKey struct{}

// Caller is the authenticated calling service of ctx, for handlers that log
// or decide by it.
func Caller(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(callerKey{}).(string)
	return s, ok
}

func (p *Policy) authorize(ctx context.Context, method string) (context.Context, error) {
	for _, prefix := range p.Public {
		if strings.HasPrefix(method, prefix) {
			return ctx, nil
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(MetadataKey)
	if len(vals) != 1 {
		return ctx, status.Error(codes.Unauthenticated, "missing service token")
	}
	now := time.Now
	if p.now != nil {
		now = p.now
	}
	caller, err := Verify(vals[0], p.Self, p.Callers, now())
	if err != nil {
		return ctx, status.Error(codes.Unauthenticated, err.Error())
	}
	for _, allowed := range p.Allow[method] {
		if allowed == caller {
			return context.WithValue(ctx, callerKey{}, caller), nil
		}
	}
	return ctx, status.Errorf(codes.PermissionDenied, "service %q may not call %s", caller, method)
}

// Unary is the server interceptor for unary calls.
func (p *Policy) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := p.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// Stream is the server interceptor for streaming calls.
func (p *Policy) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := p.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context //nolint:containedctx // a ServerStream carries its context by design
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

// ParsePrivateKey reads a private key: a base64 (standard encoding)
// Ed25519 seed, as GenerateKey prints it, or PEM (PKCS#8, PKCS#1 RSA or SEC
// 1 EC), as a certificate tool or Helm's genSignedCert writes it.
func ParsePrivateKey(s string) (crypto.Signer, error) {
	s = strings.TrimSpace(s)
	if block, _ := pem.Decode([]byte(s)); block != nil {
		var (
			key any
			err error
		)
		switch block.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("service private key: %w", err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("service private key: unsupported type %T", key)
		}
		return signer, nil
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("service private key: neither PEM nor base64: %w", err)
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		return ed25519.PrivateKey(raw), nil
	default:
		return nil, fmt.Errorf("service private key: %d bytes, want %d or %d", len(raw), ed25519.SeedSize, ed25519.PrivateKeySize)
	}
}

// ParsePublicKey reads a base64 Ed25519 public key, a PEM public key
// (PKIX) or a PEM certificate (its public key; the certificate is a
// convenient container here, its chain and dates are not checked: the
// configuration, not a CA, decides whom to trust).
func ParsePublicKey(s string) (crypto.PublicKey, error) {
	s = strings.TrimSpace(s)
	if block, _ := pem.Decode([]byte(s)); block != nil {
		switch block.Type {
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certificate: %w", err)
			}
			return cert.PublicKey, nil
		default:
			key, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("public key: %w", err)
			}
			return key, nil
		}
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("not PEM nor a base64 Ed25519 public key")
	}
	return ed25519.PublicKey(raw), nil
}

// ParsePublicKeys reads "name=base64key,name=base64key" (Ed25519 keys).
func ParsePublicKeys(s string) (map[string]crypto.PublicKey, error) {
	keys := map[string]crypto.PublicKey{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, b64, ok := strings.Cut(item, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("service public keys: %q is not name=key", item)
		}
		key, err := ParsePublicKey(b64)
		if err != nil {
			return nil, fmt.Errorf("service public key of %s: %w", name, err)
		}
		keys[name] = key
	}
	return keys, nil
}

// LoadPublicKeysDir reads every <name>.crt and <name>.pub file of dir (a
// mounted Secret) as the public key of service <name>.
func LoadPublicKeysDir(dir string) (map[string]crypto.PublicKey, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("service public keys: %w", err)
	}
	keys := map[string]crypto.PublicKey{}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if ext != ".crt" && ext != ".pub" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name())) //nolint:gosec // dir is the operator's configuration, not a request's
		if err != nil {
			return nil, fmt.Errorf("service public keys: %w", err)
		}
		key, err := ParsePublicKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("service public key %s: %w", e.Name(), err)
		}
		keys[strings.TrimSuffix(e.Name(), ext)] = key
	}
	return keys, nil
}

// ReadSecret returns value, or when it is empty the trimmed contents of
// file (a mounted Secret), or "" when both are empty.
func ReadSecret(value, file string) (string, error) {
	if value != "" || file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file) //nolint:gosec // the path comes from the operator's configuration, not from a request
	if err != nil {
		return "", fmt.Errorf("read %s: %w", file, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// GenerateKey returns a new Ed25519 key and its two encodings, as
// ParsePrivateKey and ParsePublicKeys read them.
func GenerateKey() (key ed25519.PrivateKey, private, public string, err error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", "", fmt.Errorf("generate service key: %w", err)
	}
	enc := base64.StdEncoding
	return key, enc.EncodeToString(key.Seed()), enc.EncodeToString(pub), nil
}
