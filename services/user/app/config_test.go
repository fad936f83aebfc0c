package app_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/vidstream/vidstream/services/internal/config"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/user/app"
	"github.com/vidstream/vidstream/services/user/internal/domain"
)

// The env tags are the documented defaults; they must parse and agree with
// the domain's own.
func TestConfigDefaults(t *testing.T) {
	var cfg app.Config
	if err := config.Load(t.Context(), func(string) string { return "" }, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := app.Config{
		Base: service.Base{
			KafkaBrokers:    []string{"127.0.0.1:9092"},
			RPCTimeout:      2 * time.Second,
			ShutdownTimeout: 10 * time.Second,
			ServiceAuth:     service.ServiceAuthRequired,
		},
		SessionTTL:            24 * time.Hour,
		LoginMaxFailures:      5,
		LoginMaxFailuresPerIP: 50,
		LoginFailureWindow:    15 * time.Minute,
		Argon2MemoryKiB:       domain.DefaultArgon2Params.MemoryKiB,
		Argon2Iterations:      domain.DefaultArgon2Params.Iterations,
		Argon2Parallelism:     domain.DefaultArgon2Params.Parallelism,
	}
	// DeepEqual treats func fields as equal only when both are nil, which
	// also checks that Now is not read from the environment.
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults = %+v\nwant       %+v", cfg, want)
	}
}
