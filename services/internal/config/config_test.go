package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/vidstream/vidstream/services/internal/config"
)

type dbConfig struct {
	URL      string `env:"URL, required"`
	MaxConns int    `env:"MAX_CONNS, default=10"`
}

type serviceConfig struct {
	HTTPAddr        string        `env:"HTTP_ADDR, default=127.0.0.1:8081"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT, default=15s"`
	Brokers         []string      `env:"KAFKA_BROKERS, default=127.0.0.1:9092"`
	TokenSecret     string        `env:"TOKEN_SECRET, required"`
	Debug           bool          `env:"DEBUG"`
	DB              dbConfig      `env:", prefix=DATABASE_"`
	Internal        string        // untagged: left alone
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestLoadAppliesValuesAndDefaults(t *testing.T) {
	var c serviceConfig
	err := config.Load(t.Context(), env(
		"TOKEN_SECRET", "s3cret",
		"DATABASE_URL", "sqlite://:memory:",
		"KAFKA_BROKERS", "a:1,b:2",
		"DEBUG", "true",
		"HTTP_ADDR", "", // empty counts as unset: the default applies
	), &c)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := serviceConfig{
		HTTPAddr:        "127.0.0.1:8081",
		ShutdownTimeout: 15 * time.Second,
		Brokers:         []string{"a:1", "b:2"},
		TokenSecret:     "s3cret",
		Debug:           true,
		DB:              dbConfig{URL: "sqlite://:memory:", MaxConns: 10},
	}
	if c.HTTPAddr != want.HTTPAddr || c.ShutdownTimeout != want.ShutdownTimeout ||
		strings.Join(c.Brokers, ",") != "a:1,b:2" || c.TokenSecret != want.TokenSecret ||
		c.Debug != want.Debug || c.DB != want.DB || c.Internal != "" {
		t.Errorf("Load = %+v, want %+v", c, want)
	}
}

func TestLoadReportsAllMissingRequiredVariables(t *testing.T) {
	var c serviceConfig
	err := config.Load(t.Context(), env(), &c)
	if err == nil {
		t.Fatal("Load succeeded without required variables")
	}
	if !strings.Contains(err.Error(), "TOKEN_SECRET, DATABASE_URL") {
		t.Errorf("error = %q, want both missing variables named", err)
	}
	if !errors.Is(err, envconfig.ErrMissingRequired) {
		t.Errorf("error does not wrap envconfig.ErrMissingRequired: %v", err)
	}
}

func TestLoadNamesTheVariableOfABadValue(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		wantVar string
	}{
		{"duration", []string{"SHUTDOWN_TIMEOUT", "soon"}, "config: SHUTDOWN_TIMEOUT: "},
		{"bool", []string{"DEBUG", "maybe"}, "config: DEBUG: "},
		{"nested with prefix", []string{"DATABASE_MAX_CONNS", "many"}, "config: DATABASE_MAX_CONNS: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := append([]string{"TOKEN_SECRET", "x", "DATABASE_URL", "y"}, tt.env...)
			var c serviceConfig
			err := config.Load(t.Context(), env(kv...), &c)
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantVar) {
				t.Errorf("error = %v, want prefix %q", err, tt.wantVar)
			}
		})
	}
}

func TestLoadRejectsNonStructDestination(t *testing.T) {
	var s string
	for _, dst := range []any{nil, s, &s, serviceConfig{}} {
		if err := config.Load(t.Context(), env(), dst); err == nil {
			t.Errorf("Load(%T) succeeded", dst)
		}
	}
}
