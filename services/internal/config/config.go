// Package config loads a service's configuration from environment variables
// into a struct tagged for github.com/sethvargo/go-envconfig:
//
//	type Config struct {
//		HTTPAddr    string        `env:"HTTP_ADDR, default=127.0.0.1:8081"`
//		DatabaseURL string        `env:"DATABASE_URL, required"`
//		Timeout     time.Duration `env:"SHUTDOWN_TIMEOUT, default=15s"`
//	}
//
// Variables are read through a getenv function, not the process
// environment, so that run(ctx, args, getenv, stdout) stays testable.
package config

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// Load fills dst, a pointer to a tagged struct, from getenv.
//
// An empty value counts as unset, so defaults apply: getenv cannot tell the
// two apart, and "FOO=" in an env file almost always means "no value".
//
// Errors name the variable ("config: HTTP_PORT: ..."), because that is what
// an operator can change, not the Go field. All missing required variables
// are reported together so a deploy needs one fix, not one per attempt.
func Load(ctx context.Context, getenv func(string) string, dst any) error {
	fields, err := envFields(reflect.TypeOf(dst))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var missing []string
	for _, f := range fields {
		if f.required && getenv(f.env) == "" {
			missing = append(missing, f.env)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("config: missing required variables %s: %w", strings.Join(missing, ", "), envconfig.ErrMissingRequired)
	}

	err = envconfig.ProcessWith(ctx, &envconfig.Config{
		Target: dst,
		Lookuper: envconfig.LookuperFunc(func(key string) (string, bool) {
			v := getenv(key)
			return v, v != ""
		}),
	})
	if err != nil {
		return fmt.Errorf("config: %w", nameVariable(err, fields))
	}
	return nil
}

// envField is one variable a config struct reads.
type envField struct {
	path     string // Go field path as envconfig prints it: "Database: Port"
	env      string // variable name, prefixes applied
	required bool
}

// envFields lists the variables of the struct t points to, following
// envconfig's rules for nested structs and prefix= options closely enough to
// report missing variables up front and to name variables in errors. It
// does not decide anything: envconfig still does the loading, so a case this
// walk misreads costs only a less helpful message.
func envFields(t reflect.Type) ([]envField, error) {
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("destination must be a pointer to a struct, got %v", t)
	}
	var out []envField
	walk(t.Elem(), "", "", &out, map[reflect.Type]bool{})
	return out, nil
}

func walk(t reflect.Type, pathPrefix, envPrefix string, out *[]envField, seen map[reflect.Type]bool) {
	if seen[t] {
		return // envconfig reports recursive structs itself
	}
	seen[t] = true
	defer delete(seen, t)
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		key, required, prefix := parseTag(f.Tag.Get("env"))
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		path := pathPrefix + f.Name
		if key == "" {
			if ft.Kind() == reflect.Struct {
				walk(ft, path+": ", envPrefix+prefix, out, seen)
			}
			continue
		}
		*out = append(*out, envField{path: path, env: envPrefix + key, required: required})
	}
}

// parseTag reads the parts of an env tag that matter here.
func parseTag(tag string) (key string, required bool, prefix string) {
	parts := strings.Split(tag, ",")
	key = strings.TrimSpace(parts[0])
	for _, opt := range parts[1:] {
		trimmed := strings.TrimSpace(opt)
		lower := strings.ToLower(trimmed)
		switch {
		case lower == "required":
			required = true
		case strings.HasPrefix(lower, "prefix="):
			prefix = trimmed[len("prefix="):]
		case strings.HasPrefix(lower, "default="):
			return key, required, prefix // the default swallows the rest
		}
	}
	return key, required, prefix
}

// nameVariable replaces envconfig's Go field path ("Database: Port: ...")
// with the variable name ("DB_PORT: ..."), keeping the cause wrapped.
func nameVariable(err error, fields []envField) error {
	msg := err.Error()
	// Longest path first, so "Database: Port" wins over "Database".
	slices.SortFunc(fields, func(a, b envField) int { return len(b.path) - len(a.path) })
	for _, f := range fields {
		if rest, ok := strings.CutPrefix(msg, f.path+": "); ok {
			return &varError{name: f.env, msg: rest, err: err}
		}
	}
	return err
}

// varError is an envconfig error restated with the variable's name.
type varError struct {
	name string
	msg  string
	err  error
}

func (e *varError) Error() string { return e.name + ": " + e.msg }
func (e *varError) Unwrap() error { return e.err }
