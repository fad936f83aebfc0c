package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// jaegerReleaseVersion is the Jaeger v2 release `make run` prefers: the one
// the chart's image runs and hack/tools/jaeger builds (module v1.76.0).
// Unlike the module build, the release binary embeds the real UI.
const jaegerReleaseVersion = "2.13.0"

// jaegerReleaseURL is where the release archives are published; the
// JAEGER_RELEASE_URL environment variable points devstack at a mirror.
const jaegerReleaseURL = "https://github.com/jaegertracing/jaeger/releases/download"

// jaegerReleasePins holds the SHA-256 of each release archive, one
// "<sha256>  <archive name>" line per OS and architecture (sha256sum's
// format). An archive without a pin is never downloaded: devstack runs no
// binary it cannot verify. hack/jaeger-release-pin.sh fills it from the
// release's published checksums.
//
//go:embed jaeger-release.sha256
var jaegerReleasePins string

// jaegerRelease is one release of Jaeger to fetch.
type jaegerRelease struct {
	version string
	baseURL string
	// pins maps an archive name to its SHA-256, hex.
	pins map[string]string
	http *http.Client
}

func defaultJaegerRelease(getenv func(string) string) (jaegerRelease, error) {
	pins, err := parsePins(jaegerReleasePins)
	if err != nil {
		return jaegerRelease{}, fmt.Errorf("jaeger-release.sha256: %w", err)
	}
	base := getenv("JAEGER_RELEASE_URL")
	if base == "" {
		base = jaegerReleaseURL
	}
	return jaegerRelease{
		version: jaegerReleaseVersion,
		baseURL: base,
		pins:    pins,
		// Bounded, so an unreachable host costs seconds, not minutes,
		// before the module build takes over.
		http: &http.Client{Timeout: 3 * time.Minute, Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
		}},
	}, nil
}

// parsePins reads sha256sum lines; blank lines and # comments are skipped.
func parsePins(s string) (map[string]string, error) {
	pins := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 || len(fields[0]) != 64 {
			return nil, fmt.Errorf("line %d: want \"<sha256>  <archive>\", got %q", n, line)
		}
		if _, err := hex.DecodeString(fields[0]); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		pins[strings.TrimPrefix(fields[1], "*")] = strings.ToLower(fields[0])
	}
	return pins, sc.Err()
}

// archive is the release archive's name for an OS and architecture.
func (r jaegerRelease) archive(goos, goarch string) string {
	return fmt.Sprintf("jaeger-%s-%s-%s.tar.gz", r.version, goos, goarch)
}

// fetch returns the release's jaeger binary for goos/goarch from cacheDir,
// downloading, verifying and extracting the archive the first time. It
// writes nothing unless the archive matches its pin.
func (r jaegerRelease) fetch(ctx context.Context, cacheDir, goos, goarch string) (string, error) {
	name := r.archive(goos, goarch)
	pin, ok := r.pins[name]
	if !ok {
		return "", fmt.Errorf("no pinned checksum for %s (services/devstack/jaeger-release.sha256)", name)
	}
	dir := filepath.Join(cacheDir, "jaeger-"+r.version+"-"+goos+"-"+goarch)
	bin := filepath.Join(dir, "jaeger")
	stamp := filepath.Join(dir, "archive.sha256")
	//nolint:gosec // G304: the stamp in devstack's own cache folder
	if got, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(got)) == pin {
		if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
			return bin, nil
		}
	}

	url := strings.TrimRight(r.baseURL, "/") + "/v" + r.version + "/" + name
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	client := r.http
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("download %s: %s", url, resp.Status)
	}
	// Release archives are tens of MB: read it whole, bounded, so that it
	// is verified before a byte of it is unpacked.
	const maxArchive = 512 << 20
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxArchive+1))
	if err != nil {
		return "", fmt.Errorf("download %s: %w", url, err)
	}
	if len(body) > maxArchive {
		return "", fmt.Errorf("download %s: larger than %d MiB", url, maxArchive>>20)
	}
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != pin {
		return "", fmt.Errorf("%s: checksum %s, want the pinned %s", name, got, pin)
	}

	exe, err := extractJaeger(body)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("jaeger cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".jaeger-*")
	if err != nil {
		return "", fmt.Errorf("jaeger cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(exe); err != nil {
		_ = tmp.Close()
		return "", fmt.Errorf("jaeger cache: %w", err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		_ = tmp.Close()
		return "", fmt.Errorf("jaeger cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("jaeger cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", fmt.Errorf("jaeger cache: %w", err)
	}
	if err := os.WriteFile(stamp, []byte(pin+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("jaeger cache: %w", err)
	}
	return bin, nil
}

// extractJaeger returns the `jaeger` executable of a release archive (a
// gzipped tar whose files sit in one top-level folder).
func extractJaeger(archive []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil, fmt.Errorf("not a gzip archive: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no jaeger executable in the archive")
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg || path.Base(h.Name) != "jaeger" {
			continue
		}
		const maxBinary = 1 << 30
		if h.Size > maxBinary {
			return nil, fmt.Errorf("%s: %d bytes, too large", h.Name, h.Size)
		}
		var b bytes.Buffer
		if _, err := io.CopyN(&b, tr, h.Size); err != nil {
			return nil, fmt.Errorf("read %s: %w", h.Name, err)
		}
		return b.Bytes(), nil
	}
}
