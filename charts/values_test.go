package charts_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// valuesFiles are the values.yaml of the umbrella and of every subchart.
func valuesFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(umbrella, "charts", "*", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{filepath.Join(umbrella, "values.yaml")}, files...)
}

// secretKey matches value names that would hold a credential.
var secretKey = regexp.MustCompile(`(?i)(password|passwd|secret|token|credential|apikey|api_key|private|cert)`)

// notSecret are keys that match secretKey but name a Secret or its key,
// not a credential.
var notSecret = map[string]bool{"existingSecret": true, "secretKey": true, "password_encryption": true}

// TestNoSecretInValuesDefaults: no values.yaml carries a credential.
// Passwords are generated (and kept across upgrades) by the templates, or
// come from Secrets the operator creates.
func TestNoSecretInValuesDefaults(t *testing.T) {
	for _, f := range valuesFiles(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := yaml.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		walk(v, "", func(path, key string, value any) {
			if !secretKey.MatchString(key) || notSecret[key] {
				return
			}
			switch x := value.(type) {
			case nil:
			case string:
				if x != "" {
					t.Errorf("%s: %s has a default value; credentials never live in values.yaml", f, path)
				}
			case map[string]any, []any:
				// A section named like a secret is walked into.
			default:
				t.Errorf("%s: %s has a default value; credentials never live in values.yaml", f, path)
			}
		})
	}
}

func walk(v any, path string, fn func(path, key string, value any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			p := strings.TrimPrefix(path+"."+k, ".")
			fn(p, k, val)
			walk(val, p, fn)
		}
	case []any:
		for _, val := range x {
			walk(val, path+"[]", fn)
		}
	}
}

// TestGeneratedPasswords: the PostgreSQL Secrets hold a strong generated
// password per service (different on every render without a live Secret to
// keep), and each DATABASE_URL uses the service's own database and role.
func TestGeneratedPasswords(t *testing.T) {
	a := render(t, "default", "vidstream")
	b, err := renderValues(t, scenarioValues(t, "default"), "vidstream")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, svc := range []string{"user", "video", "watch-history"} {
		name := releaseName + "-postgresql-" + svc
		sa, sb := a.find("Secret", name), b.find("Secret", name)
		if sa == nil || sb == nil {
			t.Fatalf("no Secret %s", name)
		}
		pa := string(sa.typed.(*corev1.Secret).Data["password"])
		pb := string(sb.typed.(*corev1.Secret).Data["password"])
		if len(pa) < 32 || pa == pb || seen[pa] {
			t.Errorf("%s: password is not generated per render and service (len %d)", name, len(pa))
		}
		seen[pa] = true
		url := string(sa.typed.(*corev1.Secret).Data["url"])
		db := "vidstream_" + strings.ReplaceAll(svc, "-", "_")
		want := "postgres://" + db + ":" + pa + "@" + releaseName + "-postgresql.vidstream.svc.cluster.local:5432/" + db + "?sslmode=disable"
		if url != want {
			t.Errorf("%s: url %q, want %q", name, url, want)
		}
		if sa.u.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("%s: not kept on uninstall, unlike the data volume initialised with it", name)
		}
	}
}

// TestGeneratedBrokerAndRedisPasswords: RabbitMQ's and Redis' Secrets hold
// a strong password generated per render (a live Secret keeps it on
// upgrade), and the URL the services read carries it. The broker's is kept
// on uninstall like its data volume (the broker created its user from it);
// Redis stores nothing, so its Secret goes with the release.
func TestGeneratedBrokerAndRedisPasswords(t *testing.T) {
	a := render(t, "default", "vidstream")
	b, err := renderValues(t, scenarioValues(t, "default"), "vidstream")
	if err != nil {
		t.Fatal(err)
	}
	host := func(name string) string { return releaseName + "-" + name + ".vidstream.svc.cluster.local" }
	cases := []struct {
		name, url string
		keep      bool
	}{
		{"rabbitmq", "amqp://vidstream:%s@" + host("rabbitmq") + ":5672/", true},
		{"redis", "redis://:%s@" + host("redis") + ":6379/0", false},
	}
	for _, c := range cases {
		sa, sb := a.find("Secret", releaseName+"-"+c.name), b.find("Secret", releaseName+"-"+c.name)
		if sa == nil || sb == nil {
			t.Fatalf("no Secret %s-%s", releaseName, c.name)
		}
		pa := string(sa.typed.(*corev1.Secret).Data["password"])
		pb := string(sb.typed.(*corev1.Secret).Data["password"])
		if len(pa) < 32 || pa == pb {
			t.Errorf("%s: password is not generated per render (len %d)", c.name, len(pa))
		}
		if got, want := string(sa.typed.(*corev1.Secret).Data["url"]), fmt.Sprintf(c.url, pa); got != want {
			t.Errorf("%s: url %q, want %q", c.name, got, want)
		}
		if kept := sa.u.GetAnnotations()["helm.sh/resource-policy"] == "keep"; kept != c.keep {
			t.Errorf("%s: kept on uninstall: %v, want %v", c.name, kept, c.keep)
		}
	}
}

// TestServiceKeysCoverEveryService: the generated east-west keys include
// the transcoder's (it signs its CompleteTranscode calls), and video, which
// checks the transcoder's signature, mounts its certificate.
func TestServiceKeysCoverEveryService(t *testing.T) {
	r := render(t, "default", "vidstream")
	sec := r.find("Secret", releaseName+"-service-keys")
	if sec == nil {
		t.Fatal("no service-keys Secret")
	}
	data := sec.typed.(*corev1.Secret).Data
	for _, svc := range []string{"user", "video", "watch-history", "transcoder"} {
		if len(data[svc+".key"]) == 0 || len(data[svc+".crt"]) == 0 {
			t.Errorf("no key or certificate for %s", svc)
		}
	}
	video := r.find("Deployment", releaseName+"-video").typed.(*appsv1.Deployment)
	var mounted []string
	for _, v := range video.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == releaseName+"-service-keys" {
			for _, item := range v.Secret.Items {
				mounted = append(mounted, item.Key)
			}
		}
	}
	if !slices.Contains(mounted, "transcoder.crt") || !slices.Contains(mounted, "video.key") || slices.Contains(mounted, "transcoder.key") {
		t.Errorf("video mounts %v: want its own key and the transcoder's certificate, not the transcoder's key", mounted)
	}
}

// TestCollectorConfigIsObservabilityConfig: the chart runs exactly
// observability/otel-collector.yaml, the file CI validates with a real
// collector build.
func TestCollectorConfigIsObservabilityConfig(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "observability", "otel-collector.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	copied, err := os.ReadFile(filepath.Join(umbrella, "charts", "otel-collector", "files", "otel-collector.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, copied) {
		t.Fatal("charts/vidstream/charts/otel-collector/files/otel-collector.yaml differs from observability/otel-collector.yaml; " +
			"copy it: cp observability/otel-collector.yaml charts/vidstream/charts/otel-collector/files/")
	}
	cm := render(t, "default", "vidstream").find("ConfigMap", releaseName+"-otel-collector")
	if cm == nil {
		t.Fatal("no collector ConfigMap")
	}
	if got := cm.typed.(*corev1.ConfigMap).Data["config.yaml"]; strings.TrimSpace(got) != strings.TrimSpace(string(src)) {
		t.Errorf("the ConfigMap's config.yaml is not the file:\n%s", got)
	}
}

// TestServiceChartsShareEverythingButValues: the four service charts
// differ only in their values (and names); their templates are the common
// library's and their schemas are one.
func TestServiceChartsShareEverythingButValues(t *testing.T) {
	read := func(svc, rel string) string {
		raw, err := os.ReadFile(filepath.Join(umbrella, "charts", svc, rel))
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(string(raw), svc, "SERVICE")
	}
	var files []string
	err := filepath.WalkDir(filepath.Join(umbrella, "charts", "user", "templates"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(filepath.Join(umbrella, "charts", "user"), p)
			files = append(files, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "values.schema.json")
	for _, f := range files {
		want := read("user", f)
		for _, svc := range []string{"video", "watch-history", "transcoder"} {
			if got := read(svc, f); got != want {
				t.Errorf("%s/%s differs from user/%s", svc, f, f)
			}
		}
	}
}
