package charts_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// workload is a pod template of a rendered object with how many pods of it
// run at once.
type workload struct {
	obj      object
	spec     corev1.PodSpec
	labels   map[string]string
	replicas int32
	// longRunning pods serve; Jobs and test pods run to completion and
	// have no probes.
	longRunning bool
}

func (w workload) String() string { return w.obj.String() }

func workloads(t testing.TB, r *rendered) []workload {
	t.Helper()
	// A Deployment an autoscaler scales has no replicas of its own: it runs
	// at least the autoscaler's minimum.
	scaled := map[string]int32{}
	for _, o := range r.ofKind("HorizontalPodAutoscaler") {
		hpa := o.typed.(*autoscalingv2.HorizontalPodAutoscaler)
		scaled[hpa.Spec.ScaleTargetRef.Kind+"/"+hpa.Spec.ScaleTargetRef.Name] = ptr.Deref(hpa.Spec.MinReplicas, 1)
	}
	var out []workload
	for _, o := range r.objects {
		switch v := o.typed.(type) {
		case *appsv1.Deployment:
			replicas := ptr.Deref(v.Spec.Replicas, 1)
			if least, ok := scaled["Deployment/"+v.Name]; ok {
				replicas = least
			}
			out = append(out, workload{o, v.Spec.Template.Spec, v.Spec.Template.Labels, replicas, true})
		case *appsv1.StatefulSet:
			replicas := int32(1)
			if v.Spec.Replicas != nil {
				replicas = *v.Spec.Replicas
			}
			out = append(out, workload{o, v.Spec.Template.Spec, v.Spec.Template.Labels, replicas, true})
		case *appsv1.DaemonSet, *appsv1.ReplicaSet, *batchv1.CronJob, *corev1.ReplicationController:
			t.Errorf("%s: unexpected workload kind; teach this test about it", o)
		case *batchv1.Job:
			parallelism := int32(1)
			if v.Spec.Parallelism != nil {
				parallelism = *v.Spec.Parallelism
			}
			out = append(out, workload{o, v.Spec.Template.Spec, v.Spec.Template.Labels, parallelism, false})
		case *corev1.Pod:
			out = append(out, workload{o, v.Spec, v.Labels, 1, false})
		}
	}
	return out
}

// TestWorkloadsAreHardened checks every container of every scenario against
// the restricted Pod Security Standard and the chart's own rules: sized
// (requests and limits of CPU and memory, requests within limits), probed
// when long-running, no service account token (but the topic operator's),
// pinned images.
func TestWorkloadsAreHardened(t *testing.T) {
	for _, s := range scenarios {
		t.Run(s, func(t *testing.T) {
			r := render(t, s, "vidstream")
			ws := workloads(t, r)
			if len(ws) == 0 {
				t.Fatal("no workloads rendered")
			}
			for _, w := range ws {
				checkPod(t, w)
			}
		})
	}
}

func checkPod(t *testing.T, w workload) {
	t.Helper()
	spec := w.spec
	errorf := func(format string, args ...any) { t.Errorf("%s: %s", w, fmt.Sprintf(format, args...)) }
	// The topic operator's account is the one that talks to the API server
	// with its pod's token (the operator, and its `helm test` pod); the
	// services' wait-for-topics init containers mount a token of their own
	// (TestWaitForTopicsAloneHoldsAToken).
	if isOperator(w) {
		if !isTrue(spec.AutomountServiceAccountToken) {
			errorf("the topic operator does not mount its service account token")
		}
	} else if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		errorf("automountServiceAccountToken is not false (only the topic operator talks to the API server with its pod's token)")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		errorf("shares a host namespace")
	}
	psc := spec.SecurityContext
	if psc == nil {
		errorf("no pod securityContext")
		psc = &corev1.PodSecurityContext{}
	}
	if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		errorf("pod runs as uid 0")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			errorf("volume %s is a hostPath", v.Name)
		}
	}
	containers := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for i, c := range containers {
		// Init containers run to completion before the others: no probes.
		isInit := i < len(spec.InitContainers)
		cerrorf := func(format string, args ...any) { errorf("container %s: %s", c.Name, fmt.Sprintf(format, args...)) }
		sc := c.SecurityContext
		if sc == nil {
			cerrorf("no securityContext")
			continue
		}
		nonRoot := isTrue(sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && isTrue(psc.RunAsNonRoot))
		if !nonRoot {
			cerrorf("runAsNonRoot is not true")
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			cerrorf("runs as uid 0")
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) {
			cerrorf("readOnlyRootFilesystem is not true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			cerrorf("allowPrivilegeEscalation is not false")
		}
		if isTrue(sc.Privileged) {
			cerrorf("privileged")
		}
		if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			cerrorf("capabilities do not drop ALL")
		} else if len(sc.Capabilities.Add) > 0 {
			cerrorf("adds capabilities %v", sc.Capabilities.Add)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			cerrorf("seccomp profile is not RuntimeDefault")
		}
		checkResources(cerrorf, c.Resources)
		if ref := c.Image; ref == "" || strings.HasSuffix(ref, ":latest") || !strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") {
			cerrorf("image %q is not pinned to a tag", ref)
		}
		if w.longRunning && !isInit {
			if c.StartupProbe == nil || c.LivenessProbe == nil || c.ReadinessProbe == nil {
				cerrorf("needs startup, liveness and readiness probes (have %v, %v, %v)",
					c.StartupProbe != nil, c.LivenessProbe != nil, c.ReadinessProbe != nil)
			}
		}
	}
}

func checkResources(errorf func(string, ...any), r corev1.ResourceRequirements) {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := r.Requests[name]
		lim, hasLim := r.Limits[name]
		if !hasReq || !hasLim {
			errorf("%s: request and limit required (request %v, limit %v)", name, hasReq, hasLim)
			continue
		}
		if req.Sign() <= 0 {
			errorf("%s request %s is not positive", name, req.String())
		}
		if req.Cmp(lim) > 0 {
			errorf("%s request %s exceeds its limit %s", name, req.String(), lim.String())
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// isOperator reports whether a workload runs as the topic operator's
// service account: the operator, and the `helm test` pod that runs its
// wait command.
func isOperator(w workload) bool {
	return w.spec.ServiceAccountName == releaseName+"-topic-operator"
}

// TestServicesUseGRPCProbesAndTheirPorts: the services listen on 8080 (http)
// and 9090 (grpc) in Kubernetes, probe startup and liveness with native
// gRPC probes on 9090 and readiness with /readyz.
func TestServicesUseGRPCProbesAndTheirPorts(t *testing.T) {
	r := render(t, "default", "vidstream")
	for _, svc := range []string{"user", "video", "watch-history"} {
		o := r.find("Deployment", releaseName+"-"+svc)
		if o == nil {
			t.Fatalf("no Deployment for %s", svc)
		}
		c := o.typed.(*appsv1.Deployment).Spec.Template.Spec.Containers[0]
		env := map[string]string{}
		for _, from := range c.EnvFrom {
			if from.ConfigMapRef == nil {
				continue
			}
			cm := r.find("ConfigMap", from.ConfigMapRef.Name)
			if cm == nil {
				t.Fatalf("%s: no ConfigMap %s", svc, from.ConfigMapRef.Name)
			}
			for k, v := range cm.typed.(*corev1.ConfigMap).Data {
				env[k] = v
			}
		}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		if env["HTTP_ADDR"] != ":8080" || env["GRPC_ADDR"] != ":9090" {
			t.Errorf("%s: HTTP_ADDR=%q GRPC_ADDR=%q, want :8080 and :9090", svc, env["HTTP_ADDR"], env["GRPC_ADDR"])
		}
		wantPeers := map[string][]string{"user": nil, "video": {"USER"}, "watch-history": {"USER", "VIDEO"}}[svc]
		for _, peer := range wantPeers {
			want := "dns:///" + releaseName + "-" + strings.ToLower(peer) + "-grpc.vidstream.svc.cluster.local:9090"
			if got := env[peer+"_GRPC_ADDR"]; got != want {
				t.Errorf("%s: %s_GRPC_ADDR=%q, want %q", svc, peer, got, want)
			}
		}
		if env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "" || env["KAFKA_BROKERS"] == "" {
			t.Errorf("%s: no OTLP endpoint or Kafka brokers in its environment", svc)
		}
		for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe} {
			if p == nil || p.GRPC == nil || p.GRPC.Port != 9090 {
				t.Errorf("%s: %s probe is not a gRPC probe on 9090", svc, name)
			}
		}
		if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
			t.Errorf("%s: readiness probe is not GET /readyz", svc)
		}
	}
}

// containerEnv is a container's environment: its ConfigMaps' data, then
// its env (values, or "secret:<name>/<key>" for a Secret reference).
func containerEnv(t *testing.T, r *rendered, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		cm := r.find("ConfigMap", from.ConfigMapRef.Name)
		if cm == nil {
			t.Fatalf("%s: no ConfigMap %s", c.Name, from.ConfigMapRef.Name)
		}
		for k, v := range cm.typed.(*corev1.ConfigMap).Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			env[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	return env
}

// TestTranscoderServesOpsEndpointsOnly: the transcoder has no gRPC server,
// database or Kafka: it listens on 8080 only, is probed over HTTP
// (/healthz, /readyz), calls video over gRPC, takes RABBITMQ_URL from the
// broker's Secret and waits for the broker before starting. Video gets
// both the broker's and Redis' URLs from their Secrets, and its cache
// settings.
func TestTranscoderServesOpsEndpointsOnly(t *testing.T) {
	r := render(t, "default", "vidstream")
	o := r.find("Deployment", releaseName+"-transcoder")
	if o == nil {
		t.Fatal("no Deployment for the transcoder")
	}
	spec := o.typed.(*appsv1.Deployment).Spec.Template.Spec
	c := spec.Containers[0]
	env := containerEnv(t, r, c)
	want := map[string]string{
		"HTTP_ADDR":        ":8080",
		"VIDEO_GRPC_ADDR":  "dns:///" + releaseName + "-video-grpc.vidstream.svc.cluster.local:9090",
		"RABBITMQ_URL":     "secret:" + releaseName + "-rabbitmq/url",
		"SERVICE_KEY_FILE": "/etc/vidstream/service-keys/transcoder.key",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("transcoder: %s=%q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"GRPC_ADDR", "DATABASE_URL", "KAFKA_BROKERS", "REDIS_URL"} {
		if v, ok := env[k]; ok {
			t.Errorf("transcoder: %s=%q set; it has no gRPC server, database, Kafka or cache", k, v)
		}
	}
	for _, k := range []string{"TRANSCODE_DURATION", "TRANSCODE_FAILURE_RATE", "TRANSCODE_PREFETCH", "TRANSCODE_MAX_ATTEMPTS", "TRANSCODE_RETRY_DELAY"} {
		if env[k] == "" {
			t.Errorf("transcoder: %s not set", k)
		}
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("transcoder: ports %v, want 8080 only", c.Ports)
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
			t.Errorf("transcoder: %s probe is not GET /healthz", name)
		}
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
		t.Errorf("transcoder: readiness probe is not GET /readyz")
	}
	var inits []string
	for _, ic := range spec.InitContainers {
		inits = append(inits, ic.Name)
	}
	if strings.Join(inits, ",") != "wait-for-rabbitmq" {
		t.Errorf("transcoder: init containers %v, want wait-for-rabbitmq only", inits)
	}
	if svc := r.find("Service", releaseName+"-transcoder-grpc"); svc != nil {
		t.Error("transcoder: a gRPC Service for a service without a gRPC server")
	}

	video := r.find("Deployment", releaseName+"-video").typed.(*appsv1.Deployment).Spec.Template.Spec.Containers[0]
	venv := containerEnv(t, r, video)
	for k, v := range map[string]string{
		"RABBITMQ_URL": "secret:" + releaseName + "-rabbitmq/url",
		"REDIS_URL":    "secret:" + releaseName + "-redis/url",
	} {
		if venv[k] != v {
			t.Errorf("video: %s=%q, want %q", k, venv[k], v)
		}
	}
	if venv["VIDEO_CACHE_SIZE"] == "" || venv["VIDEO_CACHE_TTL"] == "" {
		t.Error("video: no cache size or TTL")
	}
	for _, svc := range []string{"user", "watch-history"} {
		e := containerEnv(t, r, r.find("Deployment", releaseName+"-"+svc).typed.(*appsv1.Deployment).Spec.Template.Spec.Containers[0])
		if e["RABBITMQ_URL"] != "" || e["REDIS_URL"] != "" {
			t.Errorf("%s gets RABBITMQ_URL or REDIS_URL, which it does not use", svc)
		}
	}

	// Existing servers: the URL of global.redis.url, the broker's from its Secret.
	off := render(t, "infra-off", "vidstream")
	venv = containerEnv(t, off, off.find("Deployment", releaseName+"-video").typed.(*appsv1.Deployment).Spec.Template.Spec.Containers[0])
	if venv["RABBITMQ_URL"] != "secret:rabbitmq-url/url" || venv["REDIS_URL"] != "redis://redis.data.svc.cluster.local:6380/0" {
		t.Errorf("video with existing servers: RABBITMQ_URL=%q REDIS_URL=%q", venv["RABBITMQ_URL"], venv["REDIS_URL"])
	}
}

// TestMemoryBudget: the release requests at most 1.5 GiB of memory
// (docs/architecture.md#on-kubernetes), counting every pod that runs at once (replicas, Jobs); helm test
// pods run later, on their own, and are listed apart.
func TestMemoryBudget(t *testing.T) {
	budget := resource.MustParse("1536Mi")
	for _, s := range scenarios {
		t.Run(s, func(t *testing.T) {
			r := render(t, s, "vidstream")
			var total, tests resource.Quantity
			var lines []string
			for _, w := range workloads(t, r) {
				var pod resource.Quantity
				for _, c := range w.spec.Containers {
					pod.Add(c.Resources.Requests[corev1.ResourceMemory])
				}
				// Init containers run before the others: the pod needs the
				// larger of the two.
				for _, c := range w.spec.InitContainers {
					if m := c.Resources.Requests[corev1.ResourceMemory]; m.Cmp(pod) > 0 {
						pod = m
					}
				}
				sum := pod.DeepCopy()
				sum.Mul(int64(w.replicas))
				note := ""
				if w.obj.hook == "test" {
					tests.Add(sum)
					note = " (helm test, not counted)"
				} else {
					total.Add(sum)
				}
				lines = append(lines, fmt.Sprintf("  %-44s %d x %6s = %6s%s", w.obj.u.GetKind()+"/"+w.obj.u.GetName(),
					w.replicas, pod.String(), mib(sum), note))
			}
			sort.Strings(lines)
			t.Logf("memory requests, scenario %s:\n%s\n  total %s of %s (helm test pods: %s)",
				s, strings.Join(lines, "\n"), mib(total), budget.String(), mib(tests))
			if total.Cmp(budget) > 0 {
				t.Errorf("the release requests %s of memory, over the %s budget", mib(total), budget.String())
			}
		})
	}
}

func mib(q resource.Quantity) string {
	return fmt.Sprintf("%dMi", q.Value()/(1<<20))
}
