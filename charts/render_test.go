package charts_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	messagingv1alpha1 "github.com/vidstream/vidstream/services/topic-operator/api/v1alpha1"
)

const (
	umbrella    = "vidstream"
	releaseName = "vidstream"
	// The Kubernetes release the charts target: the API server the envtest
	// runs (hack/k8s-tools.sh) and kind v0.33's node image.
	kubeVersion = "v1.37.2"
)

// scenarios are the values files in charts/vidstream/ci, by name.
var scenarios = []string{"default", "infra-off", "tracing-off", "topic-operator-off"}

// operatorOn reports whether a scenario runs the topic operator.
func operatorOn(scenario string) bool { return scenario != "topic-operator-off" }

// object is one rendered Kubernetes object, decoded both ways.
type object struct {
	typed runtime.Object
	u     *unstructured.Unstructured
	// hook is the helm.sh/hook annotation ("test" for helm test pods).
	hook string
	// source is the template it came from, for messages.
	source string
}

func (o object) String() string {
	return fmt.Sprintf("%s %s (%s)", o.u.GetKind(), o.u.GetName(), o.source)
}

type rendered struct {
	scenario  string
	namespace string
	objects   []object
	notes     string
}

var (
	renderMu  sync.Mutex
	renderMem = map[string]*rendered{}
)

// loadChart loads the umbrella chart afresh: rendering removes the
// disabled subcharts from the loaded chart.
func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	c, err := loader.Load(umbrella)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return c
}

func scenarioValues(t testing.TB, scenario string) map[string]any {
	t.Helper()
	vals, err := chartutil.ReadValuesFile(filepath.Join(umbrella, "ci", scenario+"-values.yaml"))
	if err != nil {
		t.Fatalf("read values of scenario %s: %v", scenario, err)
	}
	return vals.AsMap()
}

// render renders the umbrella chart for a scenario into namespace, as
// `helm install --dry-run` would (hooks included), once per pair.
func render(t testing.TB, scenario, namespace string) *rendered {
	t.Helper()
	key := scenario + "/" + namespace
	renderMu.Lock()
	defer renderMu.Unlock()
	if r, ok := renderMem[key]; ok {
		return r
	}
	r, err := renderValues(t, scenarioValues(t, scenario), namespace)
	if err != nil {
		t.Fatalf("render scenario %s: %v", scenario, err)
	}
	r.scenario = scenario
	renderMem[key] = r
	return r
}

// renderValues renders the umbrella chart with vals, uncached.
func renderValues(t testing.TB, vals map[string]any, namespace string) (*rendered, error) {
	t.Helper()
	install := action.NewInstall(&action.Configuration{})
	install.DryRun = true
	install.ClientOnly = true
	install.IncludeCRDs = true
	install.ReleaseName = releaseName
	install.Namespace = namespace
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, err
	}
	install.KubeVersion = kv
	rel, err := install.Run(loadChart(t), vals)
	if err != nil {
		return nil, err
	}
	r := &rendered{namespace: namespace, notes: rel.Info.Notes}
	if err := r.add(rel.Manifest, ""); err != nil {
		return nil, err
	}
	for _, h := range rel.Hooks {
		events := make([]string, len(h.Events))
		for i, e := range h.Events {
			events[i] = string(e)
		}
		if err := r.add(h.Manifest, strings.Join(events, ",")); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// scheme knows the kinds the charts render: Kubernetes', the
// CustomResourceDefinition of the topic operator's chart, and its KafkaTopic.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(messagingv1alpha1.AddToScheme(s))
	return s
}()

// renderWith renders a scenario with more values (YAML) on top, uncached.
func renderWith(t testing.TB, scenario, values string) *rendered {
	t.Helper()
	var extra map[string]any
	if err := yaml.Unmarshal([]byte(values), &extra); err != nil {
		t.Fatal(err)
	}
	vals := chartutil.CoalesceTables(extra, scenarioValues(t, scenario))
	r, err := renderValues(t, vals, "vidstream")
	if err != nil {
		t.Fatalf("render scenario %s with %s: %v", scenario, values, err)
	}
	r.scenario = scenario
	return r
}

// strictCodec decodes into the typed API objects and fails on unknown or
// duplicate fields, as the API server's strict field validation does.
var strictCodec = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

func (r *rendered) add(manifest, hook string) error {
	for _, doc := range releaseutil.SplitManifests(manifest) {
		source := ""
		if first, _, ok := strings.Cut(doc, "\n"); ok && strings.HasPrefix(first, "# Source: ") {
			source = strings.TrimPrefix(first, "# Source: ")
		}
		raw := []byte(doc)
		var m map[string]any
		if err := yaml.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		if len(m) == 0 {
			continue
		}
		typed, _, err := strictCodec.Decode(raw, nil, nil)
		if err != nil {
			return fmt.Errorf("%s: strict decoding: %w", source, err)
		}
		r.objects = append(r.objects, object{typed: typed, u: &unstructured.Unstructured{Object: m}, hook: hook, source: source})
	}
	sort.SliceStable(r.objects, func(i, j int) bool { return r.objects[i].source < r.objects[j].source })
	return nil
}

// ofKind returns the objects of a kind.
func (r *rendered) ofKind(kind string) []object {
	var out []object
	for _, o := range r.objects {
		if o.u.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// find returns the object of a kind and name, or nil.
func (r *rendered) find(kind, name string) *object {
	for i, o := range r.objects {
		if o.u.GetKind() == kind && o.u.GetName() == name {
			return &r.objects[i]
		}
	}
	return nil
}

func TestScenariosRender(t *testing.T) {
	for _, s := range scenarios {
		t.Run(s, func(t *testing.T) {
			r := render(t, s, "vidstream")
			kinds := map[string]int{}
			for _, o := range r.objects {
				kinds[o.u.GetKind()]++
				// The only cluster-scoped objects: CRDs (crds/ folders).
				// Everything else, RBAC included, stays in the namespace.
				if o.u.GetKind() == "CustomResourceDefinition" {
					if ns := o.u.GetNamespace(); ns != "" {
						t.Errorf("%s: namespace %q on a cluster-scoped object", o, ns)
					}
				} else if ns := o.u.GetNamespace(); ns != "vidstream" {
					t.Errorf("%s: namespace %q, want the release's", o, ns)
				}
			}
			t.Logf("%d objects: %v", len(r.objects), kinds)
			for _, svc := range []string{"user", "video", "watch-history", "transcoder"} {
				if r.find("Deployment", releaseName+"-"+svc) == nil {
					t.Errorf("no Deployment for %s", svc)
				}
			}
			infra := []struct {
				name, kind string
				tracing    bool // part of tracing, off with it
			}{
				{"kafka", "StatefulSet", false}, {"postgresql", "StatefulSet", false},
				{"rabbitmq", "StatefulSet", false}, {"redis", "Deployment", false},
				{"otel-collector", "Deployment", true}, {"jaeger", "Deployment", true},
			}
			for _, part := range infra {
				want := s == "default" || s == "topic-operator-off" || (s == "tracing-off" && !part.tracing)
				if got := r.find(part.kind, releaseName+"-"+part.name) != nil; got != want {
					t.Errorf("%s %s rendered: %v, want %v", part.kind, part.name, got, want)
				}
			}
			if got := r.find("Deployment", releaseName+"-topic-operator") != nil; got != operatorOn(s) {
				t.Errorf("topic operator rendered: %v, want %v", got, operatorOn(s))
			}
			if got, want := len(r.ofKind("CustomResourceDefinition")), map[bool]int{true: 1, false: 0}[operatorOn(s)]; got != want {
				t.Errorf("%d CustomResourceDefinitions, want %d (the KafkaTopic CRD, with the operator)", got, want)
			}
			if !strings.Contains(r.notes, "port-forward") {
				t.Errorf("NOTES.txt does not tell how to reach the APIs:\n%s", r.notes)
			}
			if got := strings.Contains(r.notes, "get kafkatopics"); got != operatorOn(s) {
				t.Errorf("NOTES.txt mentions kafkatopics: %v, want %v:\n%s", got, operatorOn(s), r.notes)
			}
		})
	}
}

// TestValidationRefusesBrokenCombinations: switching a part off without
// naming the existing one fails the render with a message naming the value.
func TestValidationRefusesBrokenCombinations(t *testing.T) {
	cases := []struct {
		name string
		vals string
		want string
	}{
		{"kafka off, no address", "kafka: {enabled: false}", "global.kafka.bootstrapServers"},
		{"kafka on and external", "global: {kafka: {bootstrapServers: 'k:9092'}}", "kafka.enabled=false"},
		{"postgresql off, no secret", "postgresql: {enabled: false}", "database.existingSecret"},
		{"collector off, no endpoint", "otel-collector: {enabled: false}", "global.otlp.endpoint"},
		{"jaeger off, no exporter", "jaeger: {enabled: false}", "otel-collector.exporter.endpoint"},
		{"schema: unknown key", "user: {replicas: 2}", "replicas"},
		{"schema: memory limit removed", "video: {resources: {limits: {memory: null}}}", "memory"},
		{"schema: bad log level", "watch-history: {logLevel: loud}", "logLevel"},
		{"operator off, services not told", "topic-operator: {enabled: false}", "global.topicOperator.enabled"},
		{"services told, operator on", "global: {topicOperator: {enabled: false}}", "global.topicOperator.enabled"},
		{"kafka off, operator needs an address", "{kafka: {enabled: false}, user: {enabled: false}, video: {enabled: false}, watch-history: {enabled: false}}", "global.kafka.bootstrapServers"},
		{"wait for an undeclared topic", "topics: {deadLetter: false}", "video.kafka.topics names vidstream.watch.v1.dlq"},
		{"schema: topic name not a resource name", "topics: {names: [Vidstream_Users]}", "names"},
		{"schema: unknown deletion policy", "topics: {deletionPolicy: Orphan}", "deletionPolicy"},
		{"schema: the topics Job is gone", "topics: {create: true}", "create"},
		{"schema: bad wait timeout", "global: {topicOperator: {waitForTopics: {timeout: soon}}}", "timeout"},
		{"rabbitmq off, no secret", "rabbitmq: {enabled: false}", "global.rabbitmq.existingSecret"},
		{"rabbitmq on and external", "global: {rabbitmq: {existingSecret: amqp}}", "rabbitmq.enabled=false"},
		{"rabbitmq off, transcoder alone needs it", "{rabbitmq: {enabled: false}, video: {rabbitmq: {enabled: false}}}", "transcoder.rabbitmq.enabled=false"},
		{"job queue without the transcoder", "transcoder: {enabled: false}", "video.rabbitmq.enabled=false"},
		{"redis off, no address", "redis: {enabled: false}", "global.redis.url"},
		{"redis on and external", "global: {redis: {url: 'redis://r:6379/0'}}", "redis.enabled=false"},
		{"schema: redis URL with a path", "{redis: {enabled: false}, global: {redis: {url: 'redis://r:6379/cache'}}}", "url"},
		{"schema: unknown rabbitmq setting", "video: {rabbitmq: {queue: jobs}}", "queue"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var vals map[string]any
			if err := yaml.Unmarshal([]byte(c.vals), &vals); err != nil {
				t.Fatal(err)
			}
			_, err := renderValues(t, vals, "vidstream")
			if err == nil {
				t.Fatalf("rendered; want an error naming %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not name %q", err, c.want)
			}
		})
	}
}
