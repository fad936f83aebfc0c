package charts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestJaegerConfigValidates runs `jaeger validate` (Jaeger v2 is an
// OpenTelemetry Collector distribution) on the configuration the chart
// gives the official image, with a Jaeger built from the same release
// (hack/tools/jaeger). `make k8s-check` sets VIDSTREAM_JAEGER_BIN; without
// it the test is skipped.
func TestJaegerConfigValidates(t *testing.T) {
	jaeger := os.Getenv("VIDSTREAM_JAEGER_BIN")
	if jaeger == "" {
		t.Skip("VIDSTREAM_JAEGER_BIN is not set (`make k8s-check` sets it)")
	}
	cm := render(t, "default", "vidstream").find("ConfigMap", releaseName+"-jaeger")
	if cm == nil {
		t.Fatal("no Jaeger ConfigMap")
	}
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(cm.typed.(*corev1.ConfigMap).Data["config.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(jaeger, "validate", "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("jaeger validate: %v\n%s", err, out)
	}
}
