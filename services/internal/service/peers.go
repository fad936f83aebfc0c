package service

import (
	"crypto"
	"errors"
	"fmt"
	"maps"

	"google.golang.org/grpc"

	"github.com/vidstream/vidstream/services/internal/peerauth"
)

// Values of Base.ServiceAuth.
const (
	ServiceAuthRequired = "required"
	ServiceAuthOff      = "off"
)

// identity is what east-west authentication needs of a service: its own
// key, to sign calls to others, and its callers' public keys, to check
// theirs. Either may be missing: a service that calls nobody needs no key,
// one nobody calls needs no peers.
type identity struct {
	required bool
	key      crypto.Signer
	callers  map[string]crypto.PublicKey
}

func loadIdentity(b Base) (identity, error) {
	switch b.ServiceAuth {
	case ServiceAuthOff:
		return identity{}, nil
	case ServiceAuthRequired:
	default:
		return identity{}, fmt.Errorf("SERVICE_AUTH=%q: want %q or %q", b.ServiceAuth, ServiceAuthRequired, ServiceAuthOff)
	}
	id := identity{required: true, callers: map[string]crypto.PublicKey{}}
	raw, err := peerauth.ReadSecret(b.ServiceKey, b.ServiceKeyFile)
	if err != nil {
		return identity{}, fmt.Errorf("service key: %w", err)
	}
	if raw != "" {
		if id.key, err = peerauth.ParsePrivateKey(raw); err != nil {
			return identity{}, err
		}
	}
	if b.ServicePeers != "" {
		keys, err := peerauth.ParsePublicKeys(b.ServicePeers)
		if err != nil {
			return identity{}, err
		}
		maps.Copy(id.callers, keys)
	}
	if b.ServicePeersDir != "" {
		keys, err := peerauth.LoadPublicKeysDir(b.ServicePeersDir)
		if err != nil {
			return identity{}, err
		}
		maps.Copy(id.callers, keys)
	}
	return id, nil
}

var errNoServiceKey = errors.New("east-west authentication is required (SERVICE_AUTH) but neither SERVICE_KEY nor SERVICE_KEY_FILE is set")

// dialOptions sign every call of self to audience.
func (id identity) dialOptions(self, audience string) ([]grpc.DialOption, error) {
	if !id.required {
		return nil, nil
	}
	if id.key == nil {
		return nil, errNoServiceKey
	}
	return []grpc.DialOption{grpc.WithPerRPCCredentials(peerauth.NewCredentials(id.key, self, audience))}, nil
}

// serverOptions admit only the callers allow names for each method.
func (id identity) serverOptions(self string, allow map[string][]string) []grpc.ServerOption {
	if !id.required {
		return nil
	}
	p := &peerauth.Policy{Self: self, Callers: id.callers, Allow: allow, Public: peerauth.DefaultPublic}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(p.Unary), grpc.ChainStreamInterceptor(p.Stream)}
}
