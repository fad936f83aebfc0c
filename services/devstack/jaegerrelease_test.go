package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// The fetch-verify-extract path of the Jaeger release, against a local
// HTTP server serving archives laid out as the release's are.

// releaseArchive is a gzipped tar with files under one top-level folder.
func releaseArchive(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// releaseServer serves archives by path and counts requests.
func releaseServer(t *testing.T, archives map[string][]byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, ok := archives[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

const binary = "#!/bin/sh\necho jaeger\n"

func TestJaegerReleaseFetch(t *testing.T) {
	good := releaseArchive(t, map[string]string{
		"jaeger-9.9.9-linux-amd64/jaeger":       binary,
		"jaeger-9.9.9-linux-amd64/example-tool": "not this one",
	})
	srv, hits := releaseServer(t, map[string][]byte{"/v9.9.9/jaeger-9.9.9-linux-amd64.tar.gz": good})
	rel := jaegerRelease{version: "9.9.9", baseURL: srv.URL,
		pins: map[string]string{"jaeger-9.9.9-linux-amd64.tar.gz": sum(good)}, http: srv.Client()}
	cache := t.TempDir()

	path, err := rel.fetch(t.Context(), cache, "linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != binary {
		t.Fatalf("extracted %q (%v), want the archive's jaeger", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("%s is not executable: %v", path, fi.Mode())
	}

	// Cached: no second download, even with the server gone.
	srv.Close()
	again, err := rel.fetch(t.Context(), cache, "linux", "amd64")
	if err != nil || again != path {
		t.Fatalf("second fetch = %q, %v; want the cached %q", again, err, path)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("%d downloads, want 1", n)
	}
}

func TestJaegerReleaseRefuses(t *testing.T) {
	good := releaseArchive(t, map[string]string{"jaeger-9.9.9-linux-amd64/jaeger": binary})
	tampered := releaseArchive(t, map[string]string{"jaeger-9.9.9-linux-amd64/jaeger": "#!/bin/sh\necho evil\n"})
	noJaeger := releaseArchive(t, map[string]string{"jaeger-9.9.9-linux-amd64/README": "no binary"})
	srv, hits := releaseServer(t, map[string][]byte{
		"/v9.9.9/jaeger-9.9.9-linux-amd64.tar.gz": tampered,
		"/v9.9.9/jaeger-9.9.9-linux-arm64.tar.gz": noJaeger,
	})
	for name, tc := range map[string]struct {
		goos   string
		goarch string
		pins   map[string]string
		want   string
		hits   int32
	}{
		"checksum mismatch": {
			goarch: "amd64", pins: map[string]string{"jaeger-9.9.9-linux-amd64.tar.gz": sum(good)},
			want: "want the pinned", hits: 1,
		},
		"no pin, no download": {
			goarch: "amd64", pins: map[string]string{},
			want: "no pinned checksum for jaeger-9.9.9-linux-amd64.tar.gz", hits: 0,
		},
		"not found": {
			goos: "darwin", goarch: "arm64", pins: map[string]string{"jaeger-9.9.9-darwin-arm64.tar.gz": sum(good)},
			want: "404", hits: 1,
		},
		"no jaeger in the archive": {
			goarch: "arm64", pins: map[string]string{"jaeger-9.9.9-linux-arm64.tar.gz": sum(noJaeger)},
			want: "no jaeger executable", hits: 1,
		},
	} {
		t.Run(name, func(t *testing.T) {
			hits.Store(0)
			cache := t.TempDir()
			rel := jaegerRelease{version: "9.9.9", baseURL: srv.URL, pins: tc.pins, http: srv.Client()}
			goos := tc.goos
			if goos == "" {
				goos = "linux"
			}
			_, err := rel.fetch(t.Context(), cache, goos, tc.goarch)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("fetch = %v, want an error with %q", err, tc.want)
			}
			if n := hits.Load(); n != tc.hits {
				t.Errorf("%d requests, want %d", n, tc.hits)
			}
			// Nothing unverified is left where the next run would use it.
			if entries, _ := filepath.Glob(filepath.Join(cache, "*", "*")); len(entries) > 0 {
				t.Errorf("cache holds %v after a refused download", entries)
			}
		})
	}
}

func TestJaegerReleaseUnreachableFallsBack(t *testing.T) {
	srv, _ := releaseServer(t, nil)
	url := srv.URL
	srv.Close() // nothing listens there any more
	rel := jaegerRelease{version: "9.9.9", baseURL: url,
		pins: map[string]string{"jaeger-9.9.9-" + runtime.GOOS + "-" + runtime.GOARCH + ".tar.gz": strings.Repeat("0", 64)}}
	cfg := config{root: t.TempDir(), binDir: t.TempDir(), jaegerRelease: true}
	t.Setenv("PATH", t.TempDir()) // no `jaeger` on PATH
	var said []string
	choice, err := chooseJaeger(context.Background(), cfg, rel, func(f string, _ ...any) { said = append(said, f) })
	if err != nil {
		t.Fatal(err)
	}
	if !choice.built || !strings.Contains(choice.origin, "built from "+jaegerModule) {
		t.Errorf("choice = %+v, want the module build", choice)
	}
	if len(said) != 1 || !strings.Contains(said[0], "building Jaeger from") {
		t.Errorf("devstack said %q, want why it builds Jaeger", said)
	}
}

func TestJaegerReleasePinsFile(t *testing.T) {
	if _, err := parsePins(jaegerReleasePins); err != nil {
		t.Fatalf("services/devstack/jaeger-release.sha256: %v", err)
	}
	if _, err := parsePins("abc  jaeger.tar.gz\n"); err == nil {
		t.Error("a short checksum was accepted")
	}
	pins, err := parsePins("# comment\n\n" + strings.Repeat("ab", 32) + " *jaeger-1-linux-amd64.tar.gz\n")
	if err != nil || pins["jaeger-1-linux-amd64.tar.gz"] != strings.Repeat("ab", 32) {
		t.Errorf("parsePins = %v, %v", pins, err)
	}
}
