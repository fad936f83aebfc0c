package charts_test

import (
	"fmt"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// endpoint is one side of a connection: a pod of the release (by the name
// the table uses), or a pod elsewhere.
type endpoint struct {
	name      string
	namespace string
	labels    map[string]string
	// ports are the pod's named container ports, for policies that name them.
	ports []corev1.ContainerPort
	// ip is the address of an endpoint that ipBlock peers can name (the
	// API server, the internet); the release's pods have none in the model.
	ip string
}

// Addresses of the endpoints outside the pod network: the API server (a
// kind control-plane node) and somewhere on the internet.
const (
	apiServerIP = "172.18.0.2"
	internetIP  = "203.0.113.7"
)

// cluster models the namespaces and pods a connection can involve.
type cluster struct {
	namespaces map[string]map[string]string // name -> labels
	pods       map[string]endpoint
	policies   []networkingv1.NetworkPolicy
}

// newCluster places the release's pods (named by app.kubernetes.io/name:
// user, kafka, topic-operator, user-test, ...) in ns, next to a client in
// another namespace, kube-dns, the Kubernetes API server (an address, not a
// pod: on the control-plane's host network), the internet, and the given
// external pods.
func newCluster(t *testing.T, r *rendered, ns string, external ...endpoint) *cluster {
	t.Helper()
	c := &cluster{namespaces: map[string]map[string]string{}, pods: map[string]endpoint{}}
	for _, n := range []string{ns, "clients", "kube-system", "elsewhere"} {
		c.namespaces[n] = map[string]string{"kubernetes.io/metadata.name": n}
	}
	for _, w := range workloads(t, r) {
		name := w.labels["app.kubernetes.io/name"]
		if _, dup := c.pods[name]; dup {
			t.Fatalf("two workloads with pod name label %q", name)
		}
		var ports []corev1.ContainerPort
		for _, ct := range w.spec.Containers {
			ports = append(ports, ct.Ports...)
		}
		c.pods[name] = endpoint{name: name, namespace: ns, labels: w.labels, ports: ports}
	}
	c.pods["client"] = endpoint{name: "client", namespace: "clients", labels: map[string]string{"app": "browser"}}
	c.pods["kube-dns"] = endpoint{name: "kube-dns", namespace: "kube-system", labels: map[string]string{"k8s-app": "kube-dns"}}
	c.pods["internet"] = endpoint{name: "internet", namespace: "elsewhere", labels: map[string]string{"app": "anything"}, ip: internetIP}
	c.namespaces["host"] = map[string]string{}
	c.pods["kube-apiserver"] = endpoint{name: "kube-apiserver", namespace: "host", ip: apiServerIP}
	for _, e := range external {
		if _, ok := c.namespaces[e.namespace]; !ok {
			c.namespaces[e.namespace] = map[string]string{"kubernetes.io/metadata.name": e.namespace}
		}
		c.pods[e.name] = e
	}
	for _, o := range r.ofKind("NetworkPolicy") {
		c.policies = append(c.policies, *o.typed.(*networkingv1.NetworkPolicy))
	}
	return c
}

// allowed evaluates the NetworkPolicy semantics: a connection passes when
// the source's egress allows it (or no policy isolates the source for
// egress) and the destination's ingress allows it (likewise).
func (c *cluster) allowed(t *testing.T, from, to string, proto corev1.Protocol, port int32) bool {
	t.Helper()
	src, ok := c.pods[from]
	if !ok {
		t.Fatalf("no pod %q in the model (have %v)", from, keys(c.pods))
	}
	dst, ok := c.pods[to]
	if !ok {
		t.Fatalf("no pod %q in the model (have %v)", to, keys(c.pods))
	}
	return c.direction(src, dst, dst, proto, port, networkingv1.PolicyTypeEgress) &&
		c.direction(dst, src, dst, proto, port, networkingv1.PolicyTypeIngress)
}

// direction checks the policies of subject for one direction; peer is the
// other side, target the pod whose ports the connection reaches.
func (c *cluster) direction(subject, peer, target endpoint, proto corev1.Protocol, port int32, dir networkingv1.PolicyType) bool {
	isolated := false
	for _, p := range c.policies {
		if p.Namespace != subject.namespace || !selects(p.Spec.PodSelector, subject.labels) || !hasType(p, dir) {
			continue
		}
		isolated = true
		if dir == networkingv1.PolicyTypeEgress {
			for _, rule := range p.Spec.Egress {
				if c.peersMatch(p.Namespace, rule.To, peer) && portsMatch(rule.Ports, target, proto, port) {
					return true
				}
			}
		} else {
			for _, rule := range p.Spec.Ingress {
				if c.peersMatch(p.Namespace, rule.From, peer) && portsMatch(rule.Ports, target, proto, port) {
					return true
				}
			}
		}
	}
	return !isolated
}

func hasType(p networkingv1.NetworkPolicy, dir networkingv1.PolicyType) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		// The API's default: Ingress, plus Egress when there are egress rules.
		return dir == networkingv1.PolicyTypeIngress || len(p.Spec.Egress) > 0
	}
	for _, t := range p.Spec.PolicyTypes {
		if t == dir {
			return true
		}
	}
	return false
}

func (c *cluster) peersMatch(policyNS string, peers []networkingv1.NetworkPolicyPeer, e endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		switch {
		case peer.IPBlock != nil:
			// Only endpoints with an address: pod addresses are not
			// modelled (ipBlocks are for traffic leaving the pod network).
			if e.ip != "" && inBlock(peer.IPBlock, e.ip) {
				return true
			}
		case peer.NamespaceSelector != nil:
			if selects(*peer.NamespaceSelector, c.namespaces[e.namespace]) &&
				(peer.PodSelector == nil || selects(*peer.PodSelector, e.labels)) {
				return true
			}
		case peer.PodSelector != nil:
			if e.namespace == policyNS && selects(*peer.PodSelector, e.labels) {
				return true
			}
		}
	}
	return false
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, target endpoint, proto corev1.Protocol, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		want := p.Port.IntVal
		if p.Port.StrVal != "" {
			want = -1
			for _, cp := range target.ports {
				if cp.Name == p.Port.StrVal && cp.Protocol == pp {
					want = cp.ContainerPort
				}
			}
		}
		end := want
		if p.EndPort != nil {
			end = *p.EndPort
		}
		if port >= want && port <= end {
			return true
		}
	}
	return false
}

func inBlock(b *networkingv1.IPBlock, ip string) bool {
	addr := netip.MustParseAddr(ip)
	if !netip.MustParsePrefix(b.CIDR).Contains(addr) {
		return false
	}
	for _, ex := range b.Except {
		if netip.MustParsePrefix(ex).Contains(addr) {
			return false
		}
	}
	return true
}

func selects(sel metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil {
		panic(fmt.Sprintf("bad selector %v: %v", sel, err))
	}
	return s.Matches(labels.Set(l))
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

type flow struct {
	from, to string
	port     int32
	proto    corev1.Protocol // TCP when empty
	allow    bool
	why      string
}

func checkFlows(t *testing.T, c *cluster, flows []flow) {
	t.Helper()
	for _, f := range flows {
		proto := f.proto
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		verdict := map[bool]string{true: "allowed", false: "denied"}
		if got := c.allowed(t, f.from, f.to, proto, f.port); got != f.allow {
			t.Errorf("%s -> %s:%d/%s is %s, want %s (%s)", f.from, f.to, f.port, proto, verdict[got], verdict[f.allow], f.why)
		}
	}
}

// TestNetworkPoliciesAllowExactlyTheDesignedFlows: the flows of
// docs/architecture.md#transports (client -> REST; watch-history -> user, video and video -> user over gRPC;
// services -> Kafka, PostgreSQL, collector; video and the transcoder ->
// RabbitMQ, transcoder -> video over gRPC, video -> Redis; collector ->
// Jaeger; DNS), and
// the topic operator's (-> Kafka, the collector, the API server; metrics
// scrapes), pass, and nothing else does. The services reach the API server
// too, for their wait-for-topics init containers.
func TestNetworkPoliciesAllowExactlyTheDesignedFlows(t *testing.T) {
	r := render(t, "default", "vidstream")
	c := newCluster(t, r, "vidstream")
	services := []string{"user", "video", "watch-history"}
	var flows []flow
	for _, s := range services {
		flows = append(flows,
			flow{"client", s, 8080, "", true, "REST clients"},
			flow{"client", s, 9090, "", false, "gRPC is east-west only"},
			flow{s, "kafka", 9092, "", true, "events"},
			flow{s, "postgresql", 5432, "", true, "its database"},
			flow{s, "otel-collector", 4317, "", true, "traces"},
			flow{s, "jaeger", 4317, "", false, "traces go through the collector"},
			flow{s, "jaeger", 16686, "", false, "services do not query traces"},
			flow{s, "kube-dns", 53, corev1.ProtocolUDP, true, "DNS"},
			flow{s, "kube-dns", 53, corev1.ProtocolTCP, true, "DNS"},
			flow{s, "internet", 80, "", false, "no egress beyond the allowed flows"},
			flow{s, "internet", 9092, "", false, "no egress beyond the allowed flows"},
			flow{s, "kube-apiserver", 443, "", true, "wait-for-topics reads KafkaTopics (the kubernetes Service)"},
			flow{s, "kube-apiserver", 6443, "", true, "wait-for-topics reads KafkaTopics (the API server's port)"},
			flow{s, "kube-apiserver", 10250, "", false, "only the API server's ports"},
			flow{s, "topic-operator", 8080, "", false, "services scrape nothing"},
			flow{s, "postgresql", 5433, "", false, "only PostgreSQL's port"},
			flow{s + "-test", s, 8080, "", true, "helm test reads /readyz"},
		)
	}
	flows = append(flows,
		// gRPC, exactly the calls in docs/architecture.md#grpc-api.
		flow{"watch-history", "user", 9090, "", true, "token checks"},
		flow{"watch-history", "video", 9090, "", true, "video lookups"},
		flow{"video", "user", 9090, "", true, "token checks"},
		flow{"user", "video", 9090, "", false, "user calls nobody"},
		flow{"user", "watch-history", 9090, "", false, "user calls nobody"},
		flow{"video", "watch-history", 9090, "", false, "nobody calls watch-history"},
		flow{"watch-history", "user", 8080, "", false, "services call each other over gRPC only"},
		// The topic operator.
		flow{"topic-operator", "kafka", 9092, "", true, "the admin API: topics"},
		flow{"topic-operator", "kube-apiserver", 443, "", true, "KafkaTopics, Lease, Events (the kubernetes Service)"},
		flow{"topic-operator", "kube-apiserver", 6443, "", true, "KafkaTopics, Lease, Events (the API server's port)"},
		flow{"topic-operator", "otel-collector", 4317, "", true, "traces"},
		flow{"topic-operator", "kube-dns", 53, corev1.ProtocolUDP, true, "DNS"},
		flow{"topic-operator", "postgresql", 5432, "", false, "the operator needs no database"},
		flow{"topic-operator", "user", 8080, "", false, "the operator calls no service"},
		flow{"topic-operator", "jaeger", 4317, "", false, "traces go through the collector"},
		flow{"topic-operator", "internet", 9092, "", false, "only the release's Kafka"},
		flow{"client", "topic-operator", 8080, "", true, "Prometheus scrapes /metrics"},
		flow{"client", "topic-operator", 8081, "", false, "health is for the kubelet"},
		flow{"client", "topic-operator", 9443, "", false, "no webhook"},
		flow{"kafka", "topic-operator", 8080, "", false, "Kafka connects to nobody"},
		flow{"topic-operator", "kafka", 9093, "", false, "only the broker's client port"},
		flow{"kafka", "kube-apiserver", 443, "", false, "only the operator and the services' waits reach the API server"},
		flow{"postgresql", "kube-apiserver", 443, "", false, "only the operator and the services' waits reach the API server"},
		flow{"otel-collector", "kube-apiserver", 443, "", false, "only the operator and the services' waits reach the API server"},
		// Infrastructure.
		flow{"otel-collector", "jaeger", 4317, "", true, "traces to the backend"},
		flow{"otel-collector", "kafka", 9092, "", false, "the collector needs only Jaeger"},
		flow{"kafka", "postgresql", 5432, "", false, "infrastructure does not talk across"},
		flow{"postgresql", "kafka", 9092, "", false, "infrastructure does not talk across"},
		flow{"jaeger", "otel-collector", 4317, "", false, "Jaeger connects to nothing"},
		flow{"postgresql", "internet", 443, "", false, "no egress"},
		flow{"client", "jaeger", 16686, "", true, "the Jaeger UI"},
		flow{"client", "jaeger", 4317, "", false, "OTLP only from the collector"},
		flow{"client", "kafka", 9092, "", false, "Kafka is internal"},
		flow{"client", "postgresql", 5432, "", false, "PostgreSQL is internal"},
		flow{"client", "otel-collector", 4317, "", false, "the collector is internal"},
		flow{"user-test", "video", 8080, "", false, "a test pod reaches its own service only"},
		flow{"kafka", "kube-dns", 53, corev1.ProtocolUDP, true, "DNS"},
		// The work queue: video enqueues (through its outbox relay), the
		// transcoder consumes and reports back to video over gRPC.
		flow{"video", "rabbitmq", 5672, "", true, "the relay publishes transcode jobs"},
		flow{"transcoder", "rabbitmq", 5672, "", true, "the transcoder consumes them"},
		flow{"transcoder", "video", 9090, "", true, "CompleteTranscode"},
		flow{"transcoder", "video", 8080, "", false, "services call each other over gRPC only"},
		flow{"transcoder", "user", 9090, "", false, "the transcoder calls video only"},
		flow{"transcoder", "otel-collector", 4317, "", true, "traces"},
		flow{"transcoder", "kube-dns", 53, corev1.ProtocolUDP, true, "DNS"},
		flow{"transcoder", "postgresql", 5432, "", false, "the transcoder keeps no state"},
		flow{"transcoder", "kafka", 9092, "", false, "the transcoder uses no Kafka"},
		flow{"transcoder", "redis", 6379, "", false, "only video uses Redis"},
		flow{"transcoder", "kube-apiserver", 443, "", false, "the transcoder waits for no KafkaTopic"},
		flow{"transcoder", "internet", 5672, "", false, "only the release's broker"},
		flow{"client", "transcoder", 8080, "", true, "Prometheus scrapes /metrics"},
		flow{"client", "transcoder", 9090, "", false, "no gRPC server"},
		flow{"transcoder-test", "transcoder", 8080, "", true, "helm test reads /readyz"},
		flow{"user", "rabbitmq", 5672, "", false, "only video and the transcoder use the queue"},
		flow{"watch-history", "rabbitmq", 5672, "", false, "only video and the transcoder use the queue"},
		flow{"video", "rabbitmq", 15672, "", false, "no management API"},
		flow{"video", "rabbitmq", 4369, "", false, "Erlang distribution stays inside the pod"},
		flow{"client", "rabbitmq", 5672, "", false, "the broker is internal"},
		flow{"rabbitmq", "kafka", 9092, "", false, "the broker connects to nothing"},
		flow{"rabbitmq", "internet", 443, "", false, "the broker connects to nothing"},
		flow{"rabbitmq", "kube-dns", 53, corev1.ProtocolUDP, true, "DNS"},
		flow{"rabbitmq-test", "rabbitmq", 5672, "", true, "helm test speaks AMQP to the broker"},
		flow{"rabbitmq-test", "redis", 6379, "", false, "a test pod reaches its own server only"},
		// Cache invalidations: video's replicas publish and subscribe.
		flow{"video", "redis", 6379, "", true, "cache invalidations"},
		flow{"user", "redis", 6379, "", false, "only video uses Redis"},
		flow{"watch-history", "redis", 6379, "", false, "only video uses Redis"},
		flow{"client", "redis", 6379, "", false, "Redis is internal"},
		flow{"redis", "internet", 443, "", false, "Redis connects to nothing"},
		flow{"redis", "rabbitmq", 5672, "", false, "infrastructure does not talk across"},
		flow{"redis-test", "redis", 6379, "", true, "helm test pings Redis"},
	)
	checkFlows(t, c, flows)

	// Default deny: every pod of the release is isolated both ways by a
	// policy, so whatever the table does not list is denied too.
	for name, pod := range c.pods {
		if pod.namespace != "vidstream" {
			continue
		}
		for _, dir := range []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress} {
			isolated := false
			for _, p := range c.policies {
				if selects(p.Spec.PodSelector, pod.labels) && hasType(p, dir) {
					isolated = true
				}
			}
			if !isolated {
				t.Errorf("pod %s is not isolated for %s", name, dir)
			}
		}
	}
}

// TestNetworkPoliciesReachExternalInfrastructure: with every part
// switched off, the services reach the existing Kafka, database and OTLP
// endpoint on their ports, in the namespaces
// global.networkPolicy.externalEgressTo names, and nowhere else.
func TestNetworkPoliciesReachExternalInfrastructure(t *testing.T) {
	r := render(t, "infra-off", "vidstream")
	c := newCluster(t, r, "vidstream",
		endpoint{name: "ext-kafka", namespace: "data", labels: map[string]string{"app": "kafka"}},
		endpoint{name: "ext-postgres", namespace: "data", labels: map[string]string{"app": "postgres"}},
		endpoint{name: "ext-otel", namespace: "observability", labels: map[string]string{"app": "collector"}},
		endpoint{name: "ext-rabbitmq", namespace: "data", labels: map[string]string{"app": "rabbitmq"}},
		endpoint{name: "ext-redis", namespace: "data", labels: map[string]string{"app": "redis"}},
	)
	var flows []flow
	for _, s := range []string{"user", "video", "watch-history"} {
		flows = append(flows,
			flow{s, "ext-kafka", 9092, "", true, "the existing Kafka"},
			flow{s, "ext-kafka", 9093, "", false, "only the bootstrap servers' port"},
			flow{s, "ext-postgres", 5432, "", true, "the existing database"},
			flow{s, "ext-otel", 4317, "", true, "the existing OTLP endpoint"},
			flow{s, "internet", 9092, "", false, "outside externalEgressTo"},
			flow{"client", s, 8080, "", true, "REST clients"},
		)
	}
	flows = append(flows,
		flow{"topic-operator", "ext-kafka", 9092, "", true, "topics on the existing Kafka"},
		flow{"topic-operator", "ext-kafka", 9093, "", false, "only the bootstrap servers' port"},
		flow{"topic-operator", "ext-otel", 4317, "", true, "the existing OTLP endpoint"},
		flow{"topic-operator", "ext-postgres", 5432, "", false, "the operator needs no database"},
		flow{"topic-operator", "kube-apiserver", 443, "", true, "the API server"},
		flow{"watch-history", "user", 9090, "", true, "token checks"},
		flow{"video", "ext-rabbitmq", 5672, "", true, "the existing broker"},
		flow{"transcoder", "ext-rabbitmq", 5672, "", true, "the existing broker"},
		flow{"video", "ext-redis", 6380, "", true, "the existing Redis, on its URL's port"},
		flow{"video", "ext-redis", 6379, "", false, "only the URL's port"},
		flow{"transcoder", "ext-redis", 6380, "", false, "only video uses Redis"},
		flow{"transcoder", "ext-postgres", 5432, "", false, "the transcoder keeps no state"},
		flow{"transcoder", "ext-otel", 4317, "", true, "the existing OTLP endpoint"},
		flow{"transcoder", "video", 9090, "", true, "CompleteTranscode"},
		flow{"user", "ext-rabbitmq", 5672, "", false, "only video and the transcoder use the queue"},
	)
	checkFlows(t, c, flows)
}

// TestNetworkPoliciesReachTheAPIServer: the topic operator reaches the API
// server; the services do only while their wait-for-topics init containers
// run (the operator on, the wait on); global.networkPolicy.apiServerTo
// narrows both to the API server's addresses.
func TestNetworkPoliciesReachTheAPIServer(t *testing.T) {
	cases := []struct {
		name       string
		scenario   string
		values     string
		operator   bool // the operator reaches the API server
		services   bool // the services do
		narrowedTo bool // and nothing else on 443
	}{
		{"defaults", "default", "", true, true, false},
		{"narrowed", "default", "global: {networkPolicy: {apiServerTo: [{ipBlock: {cidr: " + apiServerIP + "/32}}]}}", true, true, true},
		{"wait off", "default", "global: {topicOperator: {waitForTopics: {enabled: false}}}", true, false, false},
		{"operator off", "topic-operator-off", "", false, false, false},
		{"infra off, narrowed", "infra-off", "global: {networkPolicy: {apiServerTo: [{ipBlock: {cidr: 172.18.0.0/24, except: [172.18.0.99/32]}}]}}", true, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := renderWith(t, tc.scenario, tc.values)
			c := newCluster(t, r, "vidstream")
			var flows []flow
			if tc.operator {
				for _, port := range []int32{443, 6443} {
					flows = append(flows, flow{"topic-operator", "kube-apiserver", port, "", true, "the operator's API"})
				}
				flows = append(flows, flow{"topic-operator", "internet", 443, "", !tc.narrowedTo, "apiServerTo, when set, is the only peer"})
			} else if _, ok := c.pods["topic-operator"]; ok {
				t.Error("the topic operator is rendered")
			}
			for _, s := range []string{"user", "video", "watch-history"} {
				flows = append(flows,
					flow{s, "kube-apiserver", 443, "", tc.services, "wait-for-topics, only while the wait is on"},
					flow{s, "kube-apiserver", 6443, "", tc.services, "wait-for-topics, only while the wait is on"},
					flow{s, "internet", 443, "", tc.services && !tc.narrowedTo, "apiServerTo, when set, is the only peer"},
				)
			}
			checkFlows(t, c, flows)
		})
	}
}
