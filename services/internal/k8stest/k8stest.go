// Package k8stest gives tests a real Kubernetes API server: etcd and
// kube-apiserver started by controller-runtime's envtest from the binaries
// in KUBEBUILDER_ASSETS (hack/k8s-tools.sh builds them; `hack/k8s-tools.sh
// bin` prints the folder). Objects are validated for real: OpenAPI schemas,
// CRD structural schemas and CEL rules, admission.
//
// Without KUBEBUILDER_ASSETS the tests that need it are skipped, except
// under CI=true, where a skip would hide that nothing was checked.
package k8stest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Options configure the API server.
type Options struct {
	// CRDDirectoryPaths are folders of CustomResourceDefinition manifests
	// to install (and wait for) before tests run.
	CRDDirectoryPaths []string
}

func (o Options) environment() *envtest.Environment {
	return &envtest.Environment{
		CRDDirectoryPaths:     o.CRDDirectoryPaths,
		ErrorIfCRDPathMissing: true,
		// Generous: a loaded CI machine takes far longer than the usual
		// few seconds.
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
}

// Require skips tb when no API server binaries are configured, and fails it
// under CI.
func Require(tb testing.TB) {
	tb.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") != "" {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("KUBEBUILDER_ASSETS is not set: CI must run this test on a real API server " +
			"(hack/k8s-tools.sh builds kube-apiserver and etcd; `hack/k8s-tools.sh bin` prints their folder)")
	}
	tb.Skip("KUBEBUILDER_ASSETS is not set: run hack/k8s-tools.sh and export KUBEBUILDER_ASSETS=\"$(hack/k8s-tools.sh bin)\"")
}

// Start starts an API server for tb alone, stopped when tb ends.
func Start(tb testing.TB, opts Options) *rest.Config {
	tb.Helper()
	Require(tb)
	env := opts.environment()
	cfg, err := env.Start()
	if err != nil {
		tb.Fatalf("k8stest: start kube-apiserver and etcd: %v", err)
	}
	tb.Cleanup(func() {
		if err := env.Stop(); err != nil {
			tb.Errorf("k8stest: stop the API server: %v", err)
		}
	})
	return cfg
}

// shared is the API server Main started for the package's tests.
var shared struct {
	cfg        *rest.Config
	kubeconfig []byte
	err        error
}

// Main runs a package's tests with one API server they share (starting one
// takes seconds), and stops it afterwards: call it from TestMain and exit
// with its result. Tests get it from Shared and isolate themselves with a
// namespace each.
func Main(m *testing.M, opts Options) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return m.Run() // Shared skips or fails each test
	}
	env := opts.environment()
	shared.cfg, shared.err = env.Start()
	shared.kubeconfig = env.KubeConfig
	code := m.Run()
	if shared.err == nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "k8stest: stop the API server: %v\n", err)
			code = max(code, 1)
		}
	}
	return code
}

// Shared returns the API server Main started.
func Shared(tb testing.TB) *rest.Config {
	tb.Helper()
	Require(tb)
	if shared.err != nil {
		tb.Fatalf("k8stest: start kube-apiserver and etcd: %v", shared.err)
	}
	if shared.cfg == nil {
		tb.Fatal("k8stest: no shared API server: call k8stest.Main from TestMain")
	}
	return rest.CopyConfig(shared.cfg)
}

// SharedKubeconfig writes a kubeconfig file for the API server Main
// started, for code that finds its cluster the way kubectl does
// (KUBECONFIG), and returns its path.
func SharedKubeconfig(tb testing.TB) string {
	tb.Helper()
	Shared(tb)
	path := filepath.Join(tb.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, shared.kubeconfig, 0o600); err != nil {
		tb.Fatalf("k8stest: write kubeconfig: %v", err)
	}
	return path
}
