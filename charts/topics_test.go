package charts_test

import (
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/vidstream/vidstream/services/api/events"
	messagingv1alpha1 "github.com/vidstream/vidstream/services/topic-operator/api/v1alpha1"
)

// contractTopics are the event topics of the contract, services/api/events:
// the chart's topic list must be exactly these.
var contractTopics = func() []string {
	var names []string
	for _, t := range events.Topics() {
		names = append(names, t.Name)
	}
	return names
}()

// eventFlows says which topics each service produces to and consumes from,
// as the contract has it (services/api/events: each topic's producer and
// the consumer groups). A consumer also needs the dead-letter topic of what
// it consumes.
var eventFlows = func() map[string]struct{ produces, consumes []string } {
	flows := map[string]struct{ produces, consumes []string }{}
	for _, t := range events.Topics() {
		f := flows[t.Producer]
		f.produces = append(f.produces, t.Name)
		flows[t.Producer] = f
	}
	for _, s := range events.Subscriptions() {
		f := flows[s.Service]
		f.consumes = append(f.consumes, s.Topic)
		flows[s.Service] = f
	}
	return flows
}()

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func deployment(t *testing.T, r *rendered, chart string) *appsv1.Deployment {
	t.Helper()
	o := r.find("Deployment", releaseName+"-"+chart)
	if o == nil {
		t.Fatalf("no Deployment for %s", chart)
	}
	return o.typed.(*appsv1.Deployment)
}

func initContainer(d *appsv1.Deployment, name string) *corev1.Container {
	for i, c := range d.Spec.Template.Spec.InitContainers {
		if c.Name == name {
			return &d.Spec.Template.Spec.InitContainers[i]
		}
	}
	return nil
}

// TestKafkaTopicsAreTheContractTopics: with the operator, the release
// declares exactly the contract's topics and their dead-letter topics, named
// after them, with the values' settings and deletionPolicy Retain; the
// services leave topics to the operator. Without it: no KafkaTopic, and the
// services create their topics themselves.
func TestKafkaTopicsAreTheContractTopics(t *testing.T) {
	for _, s := range scenarios {
		t.Run(s, func(t *testing.T) {
			r := render(t, s, "vidstream")
			var names []string
			for _, o := range r.ofKind("KafkaTopic") {
				kt := o.typed.(*messagingv1alpha1.KafkaTopic)
				names = append(names, kt.Name)
				if kt.Spec.TopicName != "" {
					t.Errorf("%s: topicName %q: the resource is named after its topic", o, kt.Spec.TopicName)
				}
				if kt.Spec.Partitions != 1 || kt.Spec.ReplicationFactor != 1 {
					t.Errorf("%s: partitions %d, replication factor %d; want the values' 1 and 1", o, kt.Spec.Partitions, kt.Spec.ReplicationFactor)
				}
				if kt.Spec.DeletionPolicy != messagingv1alpha1.DeletionPolicyRetain {
					t.Errorf("%s: deletionPolicy %q: uninstalling the chart must never delete a topic", o, kt.Spec.DeletionPolicy)
				}
			}
			var want []string
			if operatorOn(s) {
				for _, topic := range contractTopics {
					want = append(want, topic, topic+".dlq")
				}
			}
			sort.Strings(names)
			sort.Strings(want)
			if !slices.Equal(names, want) {
				t.Errorf("KafkaTopics %v, want %v", names, want)
			}
			for _, svc := range []string{"user", "video", "watch-history"} {
				cm := r.find("ConfigMap", releaseName+"-"+svc)
				if cm == nil {
					t.Fatalf("no ConfigMap for %s", svc)
				}
				want := map[bool]string{true: "true", false: "false"}[operatorOn(s)]
				if got := cm.typed.(*corev1.ConfigMap).Data["KAFKA_TOPICS_MANAGED"]; got != want {
					t.Errorf("%s: KAFKA_TOPICS_MANAGED=%q, want %q", svc, got, want)
				}
				if got := initContainer(deployment(t, r, svc), "wait-for-topics") != nil; got != operatorOn(s) {
					t.Errorf("%s: wait-for-topics init container: %v, want %v", svc, got, operatorOn(s))
				}
			}
		})
	}
}

// TestKafkaTopicSettingsReachTheResources: partitions, replication factor,
// config (as strings, the CRD's type) and the deletion policy come from the
// values; deadLetter=false drops the .dlq topics (and then the services
// that dead-letter must not wait for them: TestValidationRefusesBrokenCombinations).
func TestKafkaTopicSettingsReachTheResources(t *testing.T) {
	r := renderWith(t, "default", `
topics:
  partitions: 6
  replicationFactor: 3
  deletionPolicy: Delete
  config: {retention.ms: 604800000, cleanup.policy: delete, "min.insync.replicas": 2}
  deadLetter: false
video: {kafka: {topics: [vidstream.videos.v1, vidstream.watch.v1]}}
watch-history: {kafka: {topics: [vidstream.watch.v1, vidstream.users.v1, vidstream.videos.v1]}}
`)
	kts := r.ofKind("KafkaTopic")
	if len(kts) != len(contractTopics) {
		t.Fatalf("%d KafkaTopics, want the %d contract topics and no dead-letter topic", len(kts), len(contractTopics))
	}
	for _, o := range kts {
		kt := o.typed.(*messagingv1alpha1.KafkaTopic)
		if kt.Spec.Partitions != 6 || kt.Spec.ReplicationFactor != 3 || kt.Spec.DeletionPolicy != messagingv1alpha1.DeletionPolicyDelete {
			t.Errorf("%s: spec %+v", o, kt.Spec)
		}
		want := map[string]string{"retention.ms": "604800000", "cleanup.policy": "delete", "min.insync.replicas": "2"}
		if len(kt.Spec.Config) != len(want) {
			t.Errorf("%s: config %v, want %v", o, kt.Spec.Config, want)
		}
		for k, v := range want {
			if kt.Spec.Config[k] != v {
				t.Errorf("%s: config %s=%q, want %q", o, k, kt.Spec.Config[k], v)
			}
		}
	}
}

// TestServicesWaitForTheirTopics: each service's wait-for-topics init
// container runs `topic-operator wait` for every topic the service produces
// to and consumes from and the dead-letter topics of what it consumes, all
// of them KafkaTopics of the release; it alone holds a token, of the
// service's own account, which may only read KafkaTopics.
func TestServicesWaitForTheirTopics(t *testing.T) {
	r := render(t, "default", "vidstream")
	declared := map[string]bool{}
	for _, o := range r.ofKind("KafkaTopic") {
		declared[o.u.GetName()] = true
	}
	operatorImage := deployment(t, r, "topic-operator").Spec.Template.Spec.Containers[0].Image
	var waiters []string
	for svc, flows := range eventFlows {
		d := deployment(t, r, svc)
		c := initContainer(d, "wait-for-topics")
		if c == nil {
			t.Errorf("%s: no wait-for-topics init container", svc)
			continue
		}
		waiters = append(waiters, releaseName+"-"+svc)
		if c.Image != operatorImage {
			t.Errorf("%s: wait-for-topics runs %s, not the operator's image %s", svc, c.Image, operatorImage)
		}
		if len(c.Args) < 4 || !slices.Equal(c.Args[:3], []string{"wait", "-timeout", "10m"}) || len(c.Command) > 0 {
			t.Fatalf("%s: command %v args %v, want the image's entrypoint with wait -timeout 10m TOPIC...", svc, c.Command, c.Args)
		}
		waits := c.Args[3:]
		need := append(append([]string{}, flows.produces...), flows.consumes...)
		for _, topic := range flows.consumes {
			need = append(need, topic+".dlq")
		}
		for _, topic := range need {
			if !slices.Contains(waits, topic) {
				t.Errorf("%s: does not wait for %s, which it produces to, consumes from or dead-letters to", svc, topic)
			}
		}
		for _, topic := range waits {
			if !declared[topic] {
				t.Errorf("%s: waits for %s, which is no KafkaTopic of the release", svc, topic)
			}
			if !slices.Contains(need, topic) {
				t.Errorf("%s: waits for %s, which it does not use", svc, topic)
			}
		}
		env := map[string]*corev1.EnvVarSource{}
		for _, e := range c.Env {
			env[e.Name] = e.ValueFrom
		}
		if src := env["POD_NAMESPACE"]; src == nil || src.FieldRef == nil || src.FieldRef.FieldPath != "metadata.namespace" {
			t.Errorf("%s: wait-for-topics has no POD_NAMESPACE from the pod's namespace", svc)
		}
		checkTokenOnlyIn(t, svc, d, "wait-for-topics")
	}
	checkReaderRole(t, r, waiters)
}

// checkTokenOnlyIn: the pod mounts no token of its own accord, and only
// the named container mounts the projected one, which holds what the
// automounted token would: a short-lived token, the cluster's CA and the
// namespace.
func checkTokenOnlyIn(t *testing.T, svc string, d *appsv1.Deployment, container string) {
	t.Helper()
	spec := d.Spec.Template.Spec
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: the pod automounts its service account token", svc)
	}
	if spec.ServiceAccountName != d.Name {
		t.Errorf("%s: service account %q, want its own %q", svc, spec.ServiceAccountName, d.Name)
	}
	volume := ""
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, m := range c.VolumeMounts {
			if !strings.HasPrefix(m.MountPath, "/var/run/secrets") {
				continue
			}
			if c.Name != container {
				t.Errorf("%s: container %s mounts %s: only %s may hold a token", svc, c.Name, m.MountPath, container)
				continue
			}
			if m.MountPath != serviceAccountDir || !m.ReadOnly {
				t.Errorf("%s: %s mounts %s (read-only %v), want %s read-only", svc, c.Name, m.MountPath, m.ReadOnly, serviceAccountDir)
			}
			volume = m.Name
		}
	}
	if volume == "" {
		t.Errorf("%s: %s mounts no token", svc, container)
		return
	}
	for _, v := range spec.Volumes {
		if v.Name != volume {
			continue
		}
		if v.Projected == nil || len(v.Projected.Sources) != 3 {
			t.Fatalf("%s: volume %s is not a projected token, CA and namespace", svc, volume)
		}
		src := v.Projected.Sources
		if tok := src[0].ServiceAccountToken; tok == nil || tok.Path != "token" || tok.ExpirationSeconds == nil || *tok.ExpirationSeconds != 3607 || tok.Audience != "" {
			t.Errorf("%s: token source %+v, want path token, 3607 s, the API server's audience", svc, src[0].ServiceAccountToken)
		}
		if cm := src[1].ConfigMap; cm == nil || cm.Name != "kube-root-ca.crt" || len(cm.Items) != 1 || cm.Items[0].Key != "ca.crt" || cm.Items[0].Path != "ca.crt" {
			t.Errorf("%s: CA source %+v, want kube-root-ca.crt's ca.crt", svc, src[1].ConfigMap)
		}
		if da := src[2].DownwardAPI; da == nil || len(da.Items) != 1 || da.Items[0].Path != "namespace" || da.Items[0].FieldRef == nil || da.Items[0].FieldRef.FieldPath != "metadata.namespace" {
			t.Errorf("%s: namespace source %+v", svc, src[2].DownwardAPI)
		}
	}
}

// checkReaderRole: <release>-kafkatopic-reader may get, list and watch
// KafkaTopics and nothing else, and is bound to exactly the accounts of the
// services that wait.
func checkReaderRole(t *testing.T, r *rendered, accounts []string) {
	t.Helper()
	name := releaseName + "-kafkatopic-reader"
	role, binding := r.find("Role", name), r.find("RoleBinding", name)
	if role == nil || binding == nil {
		t.Fatalf("no Role and RoleBinding %s", name)
	}
	want := []rbacv1.PolicyRule{{APIGroups: []string{"messaging.vidstream.dev"}, Resources: []string{"kafkatopics"}, Verbs: []string{"get"}}}
	checkRules(t, name, role.typed.(*rbacv1.Role).Rules, want)
	rb := binding.typed.(*rbacv1.RoleBinding)
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != name {
		t.Errorf("%s binds %s %s", name, rb.RoleRef.Kind, rb.RoleRef.Name)
	}
	var got []string
	for _, s := range rb.Subjects {
		if s.Kind != "ServiceAccount" || s.Namespace != "vidstream" {
			t.Errorf("%s: subject %+v is not a service account of the release", name, s)
		}
		got = append(got, s.Name)
	}
	sort.Strings(got)
	sort.Strings(accounts)
	if !slices.Equal(got, accounts) {
		t.Errorf("%s binds %v, want %v", name, got, accounts)
	}
}

func checkRules(t *testing.T, name string, got, want []rbacv1.PolicyRule) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rules, want %d: %+v", name, len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !slices.Equal(g.APIGroups, w.APIGroups) || !slices.Equal(g.Resources, w.Resources) || !slices.Equal(g.Verbs, w.Verbs) ||
			len(g.ResourceNames) > 0 || len(g.NonResourceURLs) > 0 {
			t.Errorf("%s: rule %d is %+v, want %+v", name, i, g, w)
		}
	}
}

// TestTopicOperatorRBAC: the operator's Role grants exactly what the
// manager needs, in the release's namespace; the release has no
// cluster-wide RBAC at all.
func TestTopicOperatorRBAC(t *testing.T) {
	for _, s := range scenarios {
		r := render(t, s, "vidstream")
		for _, kind := range []string{"ClusterRole", "ClusterRoleBinding"} {
			if objs := r.ofKind(kind); len(objs) > 0 {
				t.Errorf("%s: %s rendered: %v", s, kind, objs)
			}
		}
	}
	r := render(t, "default", "vidstream")
	name := releaseName + "-topic-operator"
	role, binding := r.find("Role", name), r.find("RoleBinding", name)
	if role == nil || binding == nil {
		t.Fatalf("no Role and RoleBinding %s", name)
	}
	checkRules(t, name, role.typed.(*rbacv1.Role).Rules, []rbacv1.PolicyRule{
		{APIGroups: []string{"messaging.vidstream.dev"}, Resources: []string{"kafkatopics"}, Verbs: []string{"get", "list", "watch", "update"}},
		{APIGroups: []string{"messaging.vidstream.dev"}, Resources: []string{"kafkatopics/status"}, Verbs: []string{"update"}},
		{APIGroups: []string{"messaging.vidstream.dev"}, Resources: []string{"kafkatopics/finalizers"}, Verbs: []string{"update"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	})
	rb := binding.typed.(*rbacv1.RoleBinding)
	if rb.RoleRef.Name != name || len(rb.Subjects) != 1 || rb.Subjects[0].Name != name || rb.Subjects[0].Namespace != "vidstream" {
		t.Errorf("%s binds %+v to %+v, want the Role to the operator's own account", name, rb.RoleRef, rb.Subjects)
	}
	sa := r.find("ServiceAccount", name)
	if sa == nil || !isTrue(sa.typed.(*corev1.ServiceAccount).AutomountServiceAccountToken) {
		t.Errorf("the operator's ServiceAccount does not mount its token")
	}
	if d := deployment(t, r, "topic-operator"); d.Spec.Template.Spec.ServiceAccountName != name {
		t.Errorf("the operator runs as %q, want %q", d.Spec.Template.Spec.ServiceAccountName, name)
	}
}

// TestTopicOperatorDeployment: the operator watches the release's
// namespace, elects a leader there, serves metrics on 8080 (http-metrics,
// behind a Service) and health on 8081 (httpGet probes, not the services'
// gRPC ones), and traces like the services.
func TestTopicOperatorDeployment(t *testing.T) {
	r := render(t, "default", "vidstream")
	d := deployment(t, r, "topic-operator")
	if n := len(d.Spec.Template.Spec.Containers); n != 1 || len(d.Spec.Template.Spec.InitContainers) != 0 {
		t.Fatalf("%d containers, %d init containers; want the operator alone", n, len(d.Spec.Template.Spec.InitContainers))
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "vidstream/topic-operator:0.1.0" || len(c.Args) > 0 || len(c.Command) > 0 {
		t.Errorf("image %s, command %v, args %v; want vidstream/topic-operator in manager mode (no args)", c.Image, c.Command, c.Args)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	for name, want := range map[string]string{
		"KAFKA_BROKERS":               releaseName + "-kafka.vidstream.svc.cluster.local:9092",
		"WATCH_NAMESPACE":             "vidstream",
		"LEADER_ELECT":                "true",
		"LEADER_ELECTION_NAMESPACE":   "vidstream",
		"METRICS_ADDR":                ":8080",
		"HEALTH_ADDR":                 ":8081",
		"OTEL_SERVICE_NAME":           "topic-operator",
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + releaseName + "-otel-collector.vidstream.svc.cluster.local:4317",
	} {
		if env[name] != want {
			t.Errorf("%s=%q, want %q", name, env[name], want)
		}
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http-metrics"] != 8080 || ports["health"] != 8081 {
		t.Errorf("ports %v, want http-metrics 8080 and health 8081", ports)
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		path := map[string]string{"startup": "/healthz", "liveness": "/healthz", "readiness": "/readyz"}[name]
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.StrVal != "health" {
			t.Errorf("%s probe is not GET %s on the health port (8081)", name, path)
		}
	}
	svc := r.find("Service", releaseName+"-topic-operator")
	if svc == nil {
		t.Fatal("no metrics Service")
	}
	sp := svc.typed.(*corev1.Service).Spec.Ports
	if len(sp) != 1 || sp[0].Name != "http-metrics" || sp[0].Port != 8080 {
		t.Errorf("metrics Service ports %+v", sp)
	}
	if r.find("PodDisruptionBudget", releaseName+"-topic-operator") == nil {
		t.Error("no PodDisruptionBudget for the operator")
	}
}

// TestWaitForTopicsSwitch: global.topicOperator.waitForTopics.enabled=false
// keeps the operator and KAFKA_TOPICS_MANAGED=true but drops the init
// containers, the reader Role and the services' API server egress.
func TestWaitForTopicsSwitch(t *testing.T) {
	r := renderWith(t, "default", "global: {topicOperator: {waitForTopics: {enabled: false}}}")
	if len(r.ofKind("KafkaTopic")) == 0 {
		t.Error("no KafkaTopics")
	}
	for svc := range eventFlows {
		if initContainer(deployment(t, r, svc), "wait-for-topics") != nil {
			t.Errorf("%s: wait-for-topics rendered with the wait off", svc)
		}
		if got := r.find("ConfigMap", releaseName+"-"+svc).typed.(*corev1.ConfigMap).Data["KAFKA_TOPICS_MANAGED"]; got != "true" {
			t.Errorf("%s: KAFKA_TOPICS_MANAGED=%q, want true: the operator still owns the topics", svc, got)
		}
	}
	if r.find("Role", releaseName+"-kafkatopic-reader") != nil {
		t.Error("the reader Role is rendered with no one to wait")
	}
	// One service off: its account is not bound.
	r = renderWith(t, "default", "user: {enabled: false}")
	checkReaderRole(t, r, []string{releaseName + "-video", releaseName + "-watch-history"})
}

// TestOperatorSharesTheServicesVersion: the operator's image tag defaults to
// its chart's appVersion and the services' wait-for-topics to theirs: they
// must be one version, or the waits would run another operator build.
func TestOperatorSharesTheServicesVersion(t *testing.T) {
	c := loadChart(t)
	versions := map[string]string{}
	for _, dep := range c.Dependencies() {
		versions[dep.Name()] = dep.AppVersion()
	}
	for _, svc := range []string{"user", "video", "watch-history"} {
		if versions[svc] != versions["topic-operator"] {
			t.Errorf("%s appVersion %q, topic-operator %q: keep them equal", svc, versions[svc], versions["topic-operator"])
		}
	}
	r := renderWith(t, "default", "global: {imageRegistry: registry.example/vs, topicOperator: {image: {tag: v9, digest: 'sha256:"+strings.Repeat("a", 64)+"'}}}")
	want := "registry.example/vs/vidstream/topic-operator:v9@sha256:" + strings.Repeat("a", 64)
	if got := deployment(t, r, "topic-operator").Spec.Template.Spec.Containers[0].Image; got != want {
		t.Errorf("operator image %s, want %s", got, want)
	}
	for svc := range eventFlows {
		if got := initContainer(deployment(t, r, svc), "wait-for-topics").Image; got != want {
			t.Errorf("%s: wait-for-topics image %s, want %s", svc, got, want)
		}
	}
}
