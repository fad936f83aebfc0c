package peerauth_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	userv1 "github.com/vidstream/vidstream/services/api/user/v1"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/peerauth"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

type users struct {
	userv1.UnimplementedUserServiceServer
}

// GetUser answers with the authenticated caller as the display name, so the
// test sees what the handler saw.
func (users) GetUser(ctx context.Context, _ *userv1.GetUserRequest) (*userv1.GetUserResponse, error) {
	caller, _ := peerauth.Caller(ctx)
	return &userv1.GetUserResponse{User: &userv1.User{Id: "u1", DisplayName: caller}}, nil
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// serve starts a user service on loopback guarded by policy.
func serve(t *testing.T, policy *peerauth.Policy) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := grpcx.NewServer(telemetry.Noop(),
		grpc.ChainUnaryInterceptor(policy.Unary), grpc.ChainStreamInterceptor(policy.Stream))
	userv1.RegisterUserServiceServer(srv, users{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpcx.Dial(addr, telemetry.Noop(), grpcx.WithGRPCOptions(opts...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// staticToken sends a fixed token, for the forged, expired and malformed cases.
type staticToken string

func (s staticToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{peerauth.MetadataKey: string(s)}, nil
}
func (staticToken) RequireTransportSecurity() bool { return false }

func TestPolicy(t *testing.T) {
	history, video, api, impostor := newKey(t), newKey(t), newKey(t), newKey(t)
	const getUser = "/vidstream.user.v1.UserService/GetUser"
	addr := serve(t, &peerauth.Policy{
		Self:    "user",
		Callers: map[string]crypto.PublicKey{"watch-history": pub(history), "video": pub(video), "api": pub(api)},
		Allow:   map[string][]string{getUser: {"watch-history", "video"}},
		Public:  peerauth.DefaultPublic,
	})
	sign := func(k ed25519.PrivateKey, self, aud string, at time.Time) grpc.DialOption {
		tok, err := peerauth.Sign(k, self, aud, at)
		if err != nil {
			t.Fatal(err)
		}
		return grpc.WithPerRPCCredentials(staticToken(tok))
	}
	now := time.Now()

	tests := []struct {
		name string
		opts []grpc.DialOption
		want codes.Code
	}{
		{"allowed caller", []grpc.DialOption{grpc.WithPerRPCCredentials(peerauth.NewCredentials(history, "watch-history", "user"))}, codes.OK},
		{"another allowed caller", []grpc.DialOption{grpc.WithPerRPCCredentials(peerauth.NewCredentials(video, "video", "user"))}, codes.OK},
		{"no token", nil, codes.Unauthenticated},
		{"malformed token", []grpc.DialOption{grpc.WithPerRPCCredentials(staticToken("not-a-token"))}, codes.Unauthenticated},
		{"forged: claims to be watch-history, signed with another key", []grpc.DialOption{sign(impostor, "watch-history", "user", now)}, codes.Unauthenticated},
		{"unknown service", []grpc.DialOption{sign(impostor, "billing", "user", now)}, codes.Unauthenticated},
		{"token for another service", []grpc.DialOption{sign(history, "watch-history", "video", now)}, codes.Unauthenticated},
		{"expired token", []grpc.DialOption{sign(history, "watch-history", "user", now.Add(-2*peerauth.TokenTTL))}, codes.Unauthenticated},
		{"known caller without permission", []grpc.DialOption{grpc.WithPerRPCCredentials(peerauth.NewCredentials(api, "api", "user"))}, codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := userv1.NewUserServiceClient(dial(t, addr, tt.opts...))
			resp, err := client.GetUser(t.Context(), &userv1.GetUserRequest{Id: "u1"})
			if got := status.Code(err); got != tt.want {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.want)
			}
			if tt.want == codes.OK && resp.GetUser().GetDisplayName() == "" {
				t.Fatal("handler did not see the authenticated caller")
			}
		})
	}

	t.Run("method not in the allow-list is closed to all", func(t *testing.T) {
		client := userv1.NewUserServiceClient(dial(t, addr, grpc.WithPerRPCCredentials(peerauth.NewCredentials(history, "watch-history", "user"))))
		_, err := client.BatchGetUsers(t.Context(), &userv1.BatchGetUsersRequest{Ids: []string{"u1"}})
		if got := status.Code(err); got != codes.PermissionDenied {
			t.Fatalf("code = %v, want PermissionDenied", got)
		}
	})
	t.Run("health needs no token", func(t *testing.T) {
		_, err := healthpb.NewHealthClient(dial(t, addr)).Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("health: %v", err)
		}
	})
	t.Run("two tokens are refused", func(t *testing.T) {
		tok, _ := peerauth.Sign(history, "watch-history", "user", now)
		ctx := metadata.AppendToOutgoingContext(t.Context(), peerauth.MetadataKey, tok, peerauth.MetadataKey, tok)
		_, err := userv1.NewUserServiceClient(dial(t, addr)).GetUser(ctx, &userv1.GetUserRequest{Id: "u1"})
		if got := status.Code(err); got != codes.Unauthenticated {
			t.Fatalf("code = %v, want Unauthenticated", got)
		}
	})
}

func TestKeysRoundTrip(t *testing.T) {
	k, private, public, err := peerauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := peerauth.ParsePrivateKey(private)
	if err != nil || !parsed.(ed25519.PrivateKey).Equal(k) {
		t.Fatalf("private key round trip: %v", err)
	}
	keys, err := peerauth.ParsePublicKeys("a=" + public + ", ")
	if err != nil || !keys["a"].(ed25519.PublicKey).Equal(pub(k)) {
		t.Fatalf("public keys round trip: %v %v", keys, err)
	}
	for _, bad := range []string{"a", "a=!!", "=" + public, "a=AAAA"} {
		if _, err := peerauth.ParsePublicKeys(bad); err == nil {
			t.Errorf("ParsePublicKeys(%q) accepted", bad)
		}
	}
	if _, err := peerauth.ParsePrivateKey("AAAA"); err == nil {
		t.Error("short private key accepted")
	}
}

func FuzzVerify(f *testing.F) {
	k := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	tok, _ := peerauth.Sign(k, "video", "user", time.Unix(1e9, 0))
	f.Add(tok)
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, token string) {
		callers := map[string]crypto.PublicKey{"video": pub(k)}
		caller, err := peerauth.Verify(token, "user", callers, time.Unix(1e9, 0))
		if err == nil && caller != "video" {
			t.Fatalf("verified as %q", caller)
		}
	})
}

// TestCertificateKeys: the chart's keys are an RSA key (PKCS#1 PEM) and a
// certificate per service, as Helm's genSignedCert writes them.
func TestCertificateKeys(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "video"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "video.crt"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "video.key"), []byte("not read"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))

	callers, err := peerauth.LoadPublicKeysDir(dir)
	if err != nil || len(callers) != 1 {
		t.Fatalf("LoadPublicKeysDir = %v, %v; want video only", callers, err)
	}
	signer, err := peerauth.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := peerauth.Sign(signer, "video", "user", now)
	if err != nil {
		t.Fatal(err)
	}
	if caller, err := peerauth.Verify(tok, "user", callers, now); err != nil || caller != "video" {
		t.Fatalf("Verify = %q, %v", caller, err)
	}
	// A token whose payload was altered after signing fails.
	body, sig, _ := strings.Cut(tok, ".")
	forged := strings.ToUpper(body[:1]) + body[1:] + "." + sig
	if body[:1] == strings.ToUpper(body[:1]) {
		forged = strings.ToLower(body[:1]) + body[1:] + "." + sig
	}
	if _, err := peerauth.Verify(forged, "user", callers, now); err == nil {
		t.Fatal("altered token verified")
	}
}
