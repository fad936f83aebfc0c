// Package httpapi is the user service's public REST API (see
// docs/architecture.md). It decodes requests, calls domain.Service and
// encodes the answers; failures are apperr errors that httpx.WriteError
// turns into problem+json.
package httpapi

import (
	"context"
	_ "embed"
	"net/http"

	"net/netip"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/vidstream/vidstream/services/internal/auth"
	"github.com/vidstream/vidstream/services/user/internal/domain"
)

// OpenAPI is the REST contract served at GET /openapi.json; a test keeps it
// and the router in step.
//
//go:embed openapi.json
var OpenAPI []byte

// Deps is what the REST API needs.
type Deps struct {
	Service *domain.Service
	// TrustedProxyHops is how many reverse proxies in front of the service
	// append to X-Forwarded-For. 0 (the default) ignores the header, since
	// any client can set it; behind an ingress set it to 1, or every login
	// would be throttled as if it came from the ingress's address.
	TrustedProxyHops int
}

// NewServer adds the REST API to base, a router with the shared middleware
// and ops routes (service.NewRouter), and returns it as an http.Handler.
func NewServer(base chi.Router, d Deps) http.Handler {
	return routes(base, &handlers{svc: d.Service, proxyHops: d.TrustedProxyHops})
}

type handlers struct {
	svc       *domain.Service
	proxyHops int
}

// authenticator lets auth.Middleware check tokens against this service's
// own database, without a gRPC round trip to itself.
func (h *handlers) authenticator() auth.Authenticator {
	return auth.AuthenticatorFunc(func(ctx context.Context, token string) (auth.Principal, error) {
		p, err := h.svc.Authenticate(ctx, token)
		if err != nil {
			return auth.Principal{}, err
		}
		return auth.Principal{UserID: p.UserID, ExpiresAt: p.ExpiresAt, Token: token}, nil
	})
}

// clientIP is the address login throttling counts failures against.
// IPv6 clients are counted per /64, the block a single subscriber usually
// gets, or one client could rotate through 2^64 addresses.
func (h *handlers) clientIP(r *http.Request) string {
	addr := remoteAddr(r)
	if h.proxyHops > 0 {
		var hops []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			for part := range strings.SplitSeq(v, ",") {
				hops = append(hops, strings.TrimSpace(part))
			}
		}
		// Each trusted proxy appends the address it saw, so the entry
		// proxyHops from the right is the one our outermost proxy vouches
		// for; anything further left is client-controlled.
		if i := len(hops) - h.proxyHops; i >= 0 {
			if a, err := netip.ParseAddr(hops[i]); err == nil {
				addr = a
			}
		}
	}
	if !addr.IsValid() {
		return ""
	}
	addr = addr.Unmap()
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().String()
	}
	return addr.String()
}

func remoteAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr()
	}
	a, _ := netip.ParseAddr(r.RemoteAddr)
	return a
}
