package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/vidstream/vidstream/services/internal/jaegerquery"
)

// cluster is the installed release the tests look at, from the environment
// hack/cluster-test.sh sets.
type cluster struct {
	root       string // the repository
	kubeconfig string
	namespace  string
	release    string
	bin        string   // kubectl, helm
	values     []string // the values files of the installed release
	nodeAddr   string   // where NodePorts answer
}

func clusterFromEnv(t *testing.T) *cluster {
	t.Helper()
	kc := os.Getenv("VIDSTREAM_CLUSTER_KUBECONFIG")
	if kc == "" {
		t.Skip("needs a cluster with the chart installed: set VIDSTREAM_CLUSTER_KUBECONFIG (make cluster-test does)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{
		root:       root,
		kubeconfig: kc,
		namespace:  envOr("VIDSTREAM_CLUSTER_NAMESPACE", "vidstream"),
		release:    envOr("VIDSTREAM_CLUSTER_RELEASE", "vidstream"),
		bin:        envOr("VIDSTREAM_CLUSTER_BIN", filepath.Join(root, "hack/tools/bin/k8s")),
		nodeAddr:   envOr("VIDSTREAM_CLUSTER_NODE_ADDR", "127.0.0.1"),
	}
	for v := range strings.SplitSeq(os.Getenv("VIDSTREAM_CLUSTER_VALUES"), ",") {
		if v != "" {
			c.values = append(c.values, v)
		}
	}
	return c
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// TestCluster runs the checks in order: the upgrade comes last, since it
// replaces every service pod.
func TestCluster(t *testing.T) {
	c := clusterFromEnv(t)
	loadgen := filepath.Join(t.TempDir(), "loadgen")
	c.mustRun(t, 5*time.Minute, "go", "build", "-o", loadgen, "./services/loadgen")

	ep := c.expose(t)
	jaeger := c.portForward(t, "svc/"+c.release+"-jaeger", 16686)
	t.Logf("user %s, video %s, watch-history %s, collector OTLP/HTTP %s (NodePorts); Jaeger %s (port-forward)",
		ep.user, ep.video, ep.history, ep.otlp, jaeger)
	loadgenEnv := []string{
		"LOADGEN_USER_URL=" + ep.user, "LOADGEN_VIDEO_URL=" + ep.video, "LOADGEN_HISTORY_URL=" + ep.history,
		"JAEGER_URL=" + jaeger, "OTEL_EXPORTER_OTLP_ENDPOINT=" + ep.otlp,
	}

	t.Run("demo: one PUT trace across every hop, via the collector", func(t *testing.T) {
		report := filepath.Join(t.TempDir(), "demo.json")
		out := c.mustRunEnv(t, 5*time.Minute, loadgenEnv, loadgen, "demo", "-json", report)
		t.Logf("loadgen demo:\n%s", lastLines(out, 60))
		id := watchTraceID(t, report)
		jc := &jaegerquery.Client{BaseURL: jaeger}
		tr := waitForTrace(t, jc, id, checkWatchTrace)
		t.Logf("trace %s: %d spans; services %v; kinds %v; transports %v",
			id, len(tr.Spans), tr.Services(), kinds(tr), transports(tr))
		c.checkCollector(t)
	})

	t.Run("memory of every pod against its request", func(t *testing.T) {
		c.reportMemory(t)
	})

	t.Run("helm upgrade rolls every service without a failed request", func(t *testing.T) {
		c.upgradeUnderLoad(t, loadgen, loadgenEnv)
	})
}

// endpoints are the release's APIs as reachable from this machine.
type endpoints struct{ user, video, history, otlp string }

// expose gives the three REST APIs and the collector's OTLP/HTTP receiver
// a NodePort each (a Service of the test's own, selecting the chart's
// pods), so requests go through kube-proxy's load balancing to every ready
// pod, as a LoadBalancer or Ingress would send them: a port-forward sticks
// to one pod and would break when the upgrade replaces it.
func (c *cluster) expose(t *testing.T) endpoints {
	t.Helper()
	targets := []struct{ chart, port string }{
		{"user", "8080"}, {"video", "8080"}, {"watch-history", "8080"}, {"otel-collector", "4318"},
	}
	var manifest bytes.Buffer
	for _, tg := range targets {
		fmt.Fprintf(&manifest, `---
apiVersion: v1
kind: Service
metadata:
  name: clustertest-%[1]s
  namespace: %[2]s
  labels: {app.kubernetes.io/part-of: clustertest}
spec:
  type: NodePort
  selector: {app.kubernetes.io/name: %[1]s, app.kubernetes.io/instance: %[3]s}
  ports: [{port: %[4]s, targetPort: %[4]s, protocol: TCP}]
`, tg.chart, c.namespace, c.release, tg.port)
	}
	c.mustRunIn(t, time.Minute, &manifest, c.kubectl(), "apply", "-f", "-")
	t.Cleanup(func() {
		// The uninstall check counts what is left in the namespace.
		out, err := c.run(context.Background(), nil, nil, c.kubectl(), "-n", c.namespace, "delete", "service",
			"-l", "app.kubernetes.io/part-of=clustertest", "--wait")
		if err != nil {
			t.Errorf("delete the test's Services: %v\n%s", err, out)
		}
	})
	url := func(chart string) string {
		port := strings.TrimSpace(c.mustRun(t, time.Minute, c.kubectl(), "-n", c.namespace, "get", "service",
			"clustertest-"+chart, "-o", "jsonpath={.spec.ports[0].nodePort}"))
		return "http://" + c.nodeAddr + ":" + port
	}
	ep := endpoints{user: url("user"), video: url("video"), history: url("watch-history"), otlp: url("otel-collector")}
	// kube-proxy programs the rules shortly after the Service exists.
	for _, u := range []string{ep.user + "/readyz", ep.video + "/readyz", ep.history + "/readyz"} {
		waitHTTP(t, u, time.Minute)
	}
	return ep
}

// portForward runs `kubectl port-forward TARGET :PORT` for the test's
// lifetime and returns the local base URL.
func (c *cluster) portForward(t *testing.T, target string, port int) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, c.kubectl(), "-n", c.namespace, "port-forward", "--address", "127.0.0.1",
		target, ":"+strconv.Itoa(port))
	cmd.Env = c.env(nil)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	// "Forwarding from 127.0.0.1:41234 -> 16686"
	re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) ->`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case p := <-found:
		base := "http://127.0.0.1:" + p
		waitHTTP(t, base+"/", 30*time.Second)
		return base
	case <-time.After(time.Minute):
		t.Fatalf("kubectl port-forward %s printed no local port within a minute: %s", target, stderr.String())
		return ""
	}
}

// watchTraceID is the trace of the demo's "watch to the end" flow: PUT
// /v1/history of a video to its end.
func watchTraceID(t *testing.T, report string) string {
	t.Helper()
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Flows []struct {
			Name    string `json:"name"`
			TraceID string `json:"trace_id"`
			Error   string `json:"error"`
		} `json:"flows"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("demo report: %v", err)
	}
	for _, f := range r.Flows {
		if f.Error != "" {
			t.Errorf("demo flow %q failed: %s", f.Name, f.Error)
		}
	}
	for _, f := range r.Flows {
		if f.Name == "watch to the end" {
			return f.TraceID
		}
	}
	t.Fatalf("demo report has no flow %q", "watch to the end")
	return ""
}

// waitForTrace polls Jaeger until check accepts the trace (the relay's and
// the consumer's spans arrive last), or fails after a minute with the last
// complaint.
func waitForTrace(t *testing.T, jc *jaegerquery.Client, id string, check func(*jaegerquery.Trace) error) *jaegerquery.Trace {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		tr, err := jc.Trace(t.Context(), id)
		if err == nil {
			if err = check(tr); err == nil {
				return tr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s in the cluster's Jaeger after a minute: %v", id, err)
		}
		time.Sleep(500 * time.Millisecond) // Jaeger's ingestion has no completion signal to wait on
	}
}

// checkWatchTrace: the PUT that completes a video is one connected trace
// in which watch-history's HTTP server span leads to gRPC calls to user
// and video, and the outbox relay's Kafka producer span to video's
// consumer span.
func checkWatchTrace(tr *jaegerquery.Trace) error {
	var problems []string
	if len(tr.Roots) != 1 {
		problems = append(problems, fmt.Sprintf("%d roots, want one connected trace", len(tr.Roots)))
	}
	has := func(service string, kind jaegerquery.Kind, via jaegerquery.Transport) bool {
		return len(tr.Find(func(s *jaegerquery.Span) bool {
			return s.Service == service && s.Kind == kind && s.Transport() == via
		})) > 0
	}
	for _, w := range []struct {
		service string
		kind    jaegerquery.Kind
		via     jaegerquery.Transport
	}{
		{"watch-history", jaegerquery.KindServer, jaegerquery.TransportHTTP},
		{"watch-history", jaegerquery.KindClient, jaegerquery.TransportGRPC},
		{"user", jaegerquery.KindServer, jaegerquery.TransportGRPC},
		{"video", jaegerquery.KindServer, jaegerquery.TransportGRPC},
		{"watch-history", jaegerquery.KindProducer, jaegerquery.TransportKafka},
		{"video", jaegerquery.KindConsumer, jaegerquery.TransportKafka},
	} {
		if !has(w.service, w.kind, w.via) {
			problems = append(problems, fmt.Sprintf("no %s %s span over %s", w.service, w.kind, w.via))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s (services %v, kinds %v, transports %v)", strings.Join(problems, "; "),
			tr.Services(), kinds(tr), transports(tr))
	}
	return nil
}

func kinds(tr *jaegerquery.Trace) []string {
	var out []string
	for _, s := range tr.Spans {
		if !slices.Contains(out, string(s.Kind)) {
			out = append(out, string(s.Kind))
		}
	}
	sort.Strings(out)
	return out
}

func transports(tr *jaegerquery.Trace) []string {
	var out []string
	for _, s := range tr.Spans {
		if v := string(s.Transport()); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// checkCollector: the services send their spans to the release's collector
// (not to Jaeger directly), and the collector exported spans: its debug
// exporter logs every batch it passes on.
func (c *cluster) checkCollector(t *testing.T) {
	t.Helper()
	collector := c.release + "-otel-collector"
	for _, svc := range []string{"user", "video", "watch-history"} {
		endpoint := c.mustRun(t, time.Minute, c.kubectl(), "-n", c.namespace, "get", "configmap", c.release+"-"+svc,
			"-o", "jsonpath={.data.OTEL_EXPORTER_OTLP_ENDPOINT}")
		if !strings.Contains(endpoint, "//"+collector+".") {
			t.Errorf("%s exports to %q, want the collector %s", svc, endpoint, collector)
		}
	}
	logs := c.mustRun(t, time.Minute, c.kubectl(), "-n", c.namespace, "logs", "deployment/"+collector)
	spans := 0
	re := regexp.MustCompile(`"spans":\s*(\d+)`)
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `"Traces"`) {
			continue
		}
		if m := re.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			spans += n
		}
	}
	if spans == 0 {
		t.Errorf("the collector's debug exporter logged no span batch:\n%s", lastLines(logs, 20))
	}
	t.Logf("the collector logged %d spans passed on (its debug exporter logs the first batches and then 1 in 200)", spans)
}

// reportMemory prints every container's working set, from the kubelet's
// summary API (cgroup figures; there is no metrics-server), against its
// memory request and limit, and fails a container above its limit.
func (c *cluster) reportMemory(t *testing.T) {
	t.Helper()
	node := strings.TrimSpace(c.mustRun(t, time.Minute, c.kubectl(), "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"))
	raw := c.mustRun(t, time.Minute, c.kubectl(), "get", "--raw", "/api/v1/nodes/"+node+"/proxy/stats/summary")
	var summary struct {
		Pods []struct {
			PodRef struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"podRef"`
			Containers []struct {
				Name   string `json:"name"`
				Memory struct {
					WorkingSetBytes uint64 `json:"workingSetBytes"`
				} `json:"memory"`
			} `json:"containers"`
		} `json:"pods"`
	}
	if err := json.Unmarshal([]byte(raw), &summary); err != nil {
		t.Fatalf("kubelet summary: %v", err)
	}
	var pods struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				Containers []struct {
					Name      string `json:"name"`
					Resources struct {
						Requests map[string]string `json:"requests"`
						Limits   map[string]string `json:"limits"`
					} `json:"resources"`
				} `json:"containers"`
			} `json:"spec"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(c.mustRun(t, time.Minute, c.kubectl(), "-n", c.namespace, "get", "pods", "-o", "json")), &pods); err != nil {
		t.Fatal(err)
	}
	used := map[string]uint64{}
	for _, p := range summary.Pods {
		if p.PodRef.Namespace != c.namespace {
			continue
		}
		for _, ct := range p.Containers {
			used[p.PodRef.Name+"/"+ct.Name] = ct.Memory.WorkingSetBytes
		}
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POD/CONTAINER\tWORKING SET\tREQUEST\tLIMIT\tOF REQUEST")
	var total, totalReq uint64
	for _, p := range pods.Items {
		for _, ct := range p.Spec.Containers {
			key := p.Metadata.Name + "/" + ct.Name
			ws, ok := used[key]
			if !ok {
				t.Errorf("the kubelet reports no memory for %s", key)
				continue
			}
			req, lim := quantity(ct.Resources.Requests["memory"]), quantity(ct.Resources.Limits["memory"])
			total += ws
			totalReq += req
			pct := "-"
			if req > 0 {
				pct = fmt.Sprintf("%d%%", ws*100/req)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", key, mib(ws), mib(req), mib(lim), pct)
			if lim > 0 && ws > lim {
				t.Errorf("%s uses %s, above its limit %s", key, mib(ws), mib(lim))
			}
		}
	}
	fmt.Fprintf(tw, "total\t%s\t%s\t\t\n", mib(total), mib(totalReq))
	_ = tw.Flush()
	t.Logf("memory (working set, from the kubelet's summary API):\n%s", b.String())
}

// quantity parses the memory quantities the chart uses (Mi, Gi, plain bytes).
func quantity(s string) uint64 {
	for suffix, mult := range map[string]uint64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if v, ok := strings.CutSuffix(s, suffix); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n * mult
		}
	}
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

func mib(b uint64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fMi", float64(b)/(1<<20))
}

// upgradeUnderLoad runs `loadgen load` through the NodePorts while `helm
// upgrade` changes every service's log level, which changes their
// ConfigMaps and so rolls their Deployments (maxUnavailable 0, readiness
// on /readyz, a drain delay on SIGTERM). Every request must succeed, the
// load must outlast the upgrade, and every service pod must have been
// replaced.
//
// The services first go to two replicas each: with one, the upgrade loses
// a few requests (3 to 217 of 3000 in our runs) whatever the chart does,
// because the callers' gRPC clients resolve the headless Service by DNS and
// keep only the replaced pod's address until they resolve again (see
// docs/kubernetes.md). That gap is the services' to close (retrying
// UNAVAILABLE calls); two replicas is how the chart is meant to run when
// an upgrade must not fail a request.
func (c *cluster) upgradeUnderLoad(t *testing.T, loadgen string, env []string) {
	t.Helper()
	const replicas = "user.replicaCount=2,video.replicaCount=2,watch-history.replicaCount=2"
	c.helmUpgrade(t, "--set", replicas)
	before := c.servicePods(t)
	const loadFor = 150 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), loadFor+2*time.Minute)
	defer cancel()
	type result struct {
		out string
		err error
	}
	loadDone := make(chan result, 1)
	loadStart := time.Now()
	go func() {
		out, err := c.run(ctx, env, nil, loadgen, "load", "-json", "-duration", loadFor.String(),
			"-rate", "20", "-users", "3", "-videos", "5")
		loadDone <- result{out, err}
	}()

	upStart := time.Now()
	out, err := c.run(ctx, nil, nil, c.helm(), c.upgradeArgs("--set", replicas,
		"--set", "user.logLevel=debug,video.logLevel=debug,watch-history.logLevel=debug")...)
	upgradeTook := time.Since(upStart)
	if err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, out)
	}
	upgradeEnd := time.Since(loadStart)
	t.Logf("helm upgrade --wait took %s", upgradeTook.Round(100*time.Millisecond))

	r := <-loadDone
	if r.err != nil {
		t.Fatalf("loadgen load: %v\n%s", r.err, r.out)
	}
	var rep struct {
		Requests int            `json:"requests"`
		Errors   int            `json:"errors"`
		Status   map[string]int `json:"status"`
		Samples  []string       `json:"sample_errors"`
	}
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatalf("loadgen load -json: %v\n%s", err, r.out)
	}
	t.Logf("load during the upgrade: %d requests, %d errors, statuses %v", rep.Requests, rep.Errors, rep.Status)
	if upgradeEnd > loadFor {
		t.Errorf("the upgrade ended %s after the load started, after the load's %s: not all of it was under load",
			upgradeEnd.Round(time.Second), loadFor)
	}
	if rep.Requests == 0 || rep.Errors != 0 {
		t.Errorf("load during the upgrade: %d requests, %d errors (%v), want some and none; samples: %v",
			rep.Requests, rep.Errors, rep.Status, rep.Samples)
	}
	// Replaced pods drain for a few seconds after helm is done.
	var after map[string][]string
	for deadline := time.Now().Add(2 * time.Minute); ; {
		after = c.servicePods(t)
		survivors := 0
		for svc, pods := range before {
			for _, p := range pods {
				if slices.Contains(after[svc], p) {
					survivors++
				}
			}
		}
		if survivors == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d service pods survived the upgrade (before %v, after %v): the change did not roll them", survivors, before, after)
			break
		}
		time.Sleep(time.Second) // pods terminating, no signal to wait on here
	}
	for svc := range before {
		if len(after[svc]) == 0 {
			t.Errorf("no %s pod after the upgrade", svc)
		}
	}
	t.Logf("service pods before %v, after %v", before, after)
}

// upgradeArgs is `helm upgrade` of the release with its values files and extra.
func (c *cluster) upgradeArgs(extra ...string) []string {
	args := []string{"upgrade", c.release, filepath.Join(c.root, "charts/vidstream"), "-n", c.namespace,
		"--wait", "--timeout", "5m"}
	for _, v := range c.values {
		args = append(args, "-f", v)
	}
	return append(args, extra...)
}

func (c *cluster) helmUpgrade(t *testing.T, extra ...string) {
	t.Helper()
	c.mustRun(t, 6*time.Minute, c.helm(), c.upgradeArgs(extra...)...)
}

// servicePods returns the running pods of each service by chart name.
func (c *cluster) servicePods(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, svc := range []string{"user", "video", "watch-history"} {
		names := c.mustRun(t, time.Minute, c.kubectl(), "-n", c.namespace, "get", "pods",
			"-l", "app.kubernetes.io/name="+svc+",app.kubernetes.io/instance="+c.release,
			"--field-selector", "status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}")
		out[svc] = strings.Fields(names)
	}
	return out
}

func (c *cluster) kubectl() string { return filepath.Join(c.bin, "kubectl") }
func (c *cluster) helm() string    { return filepath.Join(c.bin, "helm") }

// env is the environment of the commands the test runs: the cluster's
// kubeconfig, plus extra.
func (c *cluster) env(extra []string) []string {
	return append(append(os.Environ(), "KUBECONFIG="+c.kubeconfig), extra...)
}

// run runs a command in the repository and returns its standard output
// (and, on failure, its standard error too).
func (c *cluster) run(ctx context.Context, env []string, stdin io.Reader, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = c.root
	cmd.Env = c.env(env)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("%s %s: %w", filepath.Base(name), strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}

func (c *cluster) mustRunIn(t *testing.T, timeout time.Duration, stdin io.Reader, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	out, err := c.run(ctx, nil, stdin, name, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, lastLines(out, 50))
	}
	return out
}

func (c *cluster) mustRun(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	return c.mustRunIn(t, timeout, nil, name, args...)
}

func (c *cluster) mustRunEnv(t *testing.T, timeout time.Duration, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	out, err := c.run(ctx, env, nil, name, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, lastLines(out, 80))
	}
	return out
}

// waitHTTP polls url until it answers 200, or fails the test.
func waitHTTP(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within %s: %v", url, timeout, err)
		}
		time.Sleep(250 * time.Millisecond) // waiting for kube-proxy's rules, which have no signal here
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// syncBuffer collects a process's standard error while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
