package charts_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messagingv1alpha1 "github.com/vidstream/vidstream/services/topic-operator/api/v1alpha1"
	operatorapp "github.com/vidstream/vidstream/services/topic-operator/app"
)

// as returns a client that acts as the service account sa of namespace ns,
// and a kubeconfig file that does the same for a process: the API server
// then authorizes each request with that account's RBAC, exactly as for a
// pod running under it.
func as(t *testing.T, admin *rest.Config, ns, sa string) (client.Client, string) {
	t.Helper()
	user := "system:serviceaccount:" + ns + ":" + sa
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	cfg := rest.CopyConfig(admin)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	c, err := client.New(cfg, client.Options{Scheme: operatorapp.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{"envtest": {Server: admin.Host, CertificateAuthorityData: admin.CAData}},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{sa: {
			ClientCertificateData: admin.CertData, ClientKeyData: admin.KeyData,
			Impersonate: user, ImpersonateGroups: groups,
		}},
		Contexts:       map[string]*clientcmdapi.Context{sa: {Cluster: "envtest", AuthInfo: sa, Namespace: ns}},
		CurrentContext: sa,
	}
	path := filepath.Join(t.TempDir(), sa+".kubeconfig")
	if err := clientcmd.WriteToFile(kubeconfig, path); err != nil {
		t.Fatal(err)
	}
	return c, path
}

// buildOperator builds the topic operator's binary, as its image ships it.
func buildOperator(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "topic-operator")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../services/topic-operator")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the topic operator: %v\n%s", err, out)
	}
	return bin
}

// envOf returns a container's literal environment (valueFrom entries are
// the kubelet's, left out).
func envOf(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

func environ(env map[string]string) []string {
	out := []string{"HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// poll calls cond until it returns nil, failing t after 60 s.
func poll(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTopicOperatorWorksWithOnlyTheChartsRBAC installs the release's CRD,
// service accounts, Roles, RoleBindings and KafkaTopics on a real API
// server (which enforces RBAC), runs the real operator as the chart's
// operator account, and each service's wait-for-topics command, with the
// init container's own arguments, as that service's account. Both work
// with exactly what the chart grants, and nothing more is granted.
func TestTopicOperatorWorksWithOnlyTheChartsRBAC(t *testing.T) {
	admin, _, adminCfg := startAPIServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	const ns = "rbac"
	restrictedNamespace(ctx, t, admin, ns)
	r := render(t, "default", ns)
	for _, kind := range []string{"CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding", "KafkaTopic"} {
		for _, o := range r.ofKind(kind) {
			if err := admin.Create(ctx, o.u.DeepCopy()); err != nil {
				t.Fatalf("%s: %v", o, err)
			}
			if kind == "CustomResourceDefinition" {
				waitEstablished(ctx, t, admin, o.u.GetName())
			}
		}
	}

	// A broker of the test's own: the topics have the contract's names,
	// which other tests may use on a shared one.
	broker, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()

	// The operator's binary, with the Deployment's environment, as the
	// operator's service account: only the Kafka address (a test
	// broker), the listen addresses (loopback) and the exporter differ.
	bin := buildOperator(t)
	operatorSA := releaseName + "-topic-operator"
	_, operatorKubeconfig := as(t, adminCfg, ns, operatorSA)
	deploy := r.find("Deployment", operatorSA).typed.(*appsv1.Deployment)
	env := envOf(deploy.Spec.Template.Spec.Containers[0])
	if env["WATCH_NAMESPACE"] != ns || env["LEADER_ELECT"] != "true" {
		t.Fatalf("operator env %v: want WATCH_NAMESPACE=%s and leader election", env, ns)
	}
	env["KAFKA_BROKERS"] = strings.Join(broker.ListenAddrs(), ",")
	env["METRICS_ADDR"], env["HEALTH_ADDR"] = "127.0.0.1:0", "127.0.0.1:0"
	env["OTEL_TRACES_EXPORTER"] = "none"
	env["POD_NAMESPACE"] = ns
	env["KUBECONFIG"] = operatorKubeconfig
	var operatorLog strings.Builder
	operator := exec.Command(bin)
	operator.Env = environ(env)
	operator.Stdout, operator.Stderr = &operatorLog, &operatorLog
	if err := operator.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = operator.Process.Signal(syscall.SIGTERM)
		if err := operator.Wait(); err != nil {
			t.Errorf("operator exited with %v", err)
		}
		if t.Failed() {
			t.Logf("operator log:\n%s", operatorLog.String())
		}
	}()

	// Each service waits, as its init container would, as itself.
	for _, svc := range []string{"user", "video", "watch-history"} {
		d := r.find("Deployment", releaseName+"-"+svc).typed.(*appsv1.Deployment)
		wait := initContainer(d, "wait-for-topics")
		if wait == nil || len(wait.Args) < 4 || wait.Args[0] != "wait" || wait.Args[1] != "-timeout" {
			t.Fatalf("%s: unexpected wait-for-topics container %+v", svc, wait)
		}
		svcClient, svcKubeconfig := as(t, adminCfg, ns, d.Spec.Template.Spec.ServiceAccountName)
		waitCmd := exec.CommandContext(ctx, bin, wait.Args...)
		waitCmd.Env = environ(map[string]string{"KUBECONFIG": svcKubeconfig, "POD_NAMESPACE": ns})
		if out, err := waitCmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: topic-operator %v: %v\n%s", svc, wait.Args, err, out)
		}

		// ... and may do nothing else.
		var kt messagingv1alpha1.KafkaTopic
		if err := svcClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: wait.Args[3]}, &kt); err != nil {
			t.Fatal(err)
		}
		kt.Spec.Partitions++
		if err := svcClient.Update(ctx, &kt); !apierrors.IsForbidden(err) {
			t.Errorf("%s may update KafkaTopics (err %v): the reader Role grants too much", svc, err)
		}
		if err := svcClient.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)); !apierrors.IsForbidden(err) {
			t.Errorf("%s may list Secrets (err %v)", svc, err)
		}
	}

	// `helm test`: the test pod's wait, as its service account, for every
	// KafkaTopic of the release.
	testPod := r.find("Pod", releaseName+"-kafkatopics-test").typed.(*corev1.Pod)
	_, testKubeconfig := as(t, adminCfg, ns, testPod.Spec.ServiceAccountName)
	helmTest := exec.CommandContext(ctx, bin, testPod.Spec.Containers[0].Args...)
	helmTest.Env = environ(map[string]string{"KUBECONFIG": testKubeconfig, "POD_NAMESPACE": ns})
	if out, err := helmTest.CombinedOutput(); err != nil {
		t.Fatalf("helm test pod: topic-operator %v: %v\n%s", testPod.Spec.Containers[0].Args, err, out)
	} else if n := strings.Count(string(out), ": ready ("); n != len(r.ofKind("KafkaTopic")) {
		t.Errorf("helm test pod saw %d topics ready, want all %d:\n%s", n, len(r.ofKind("KafkaTopic")), out)
	}

	// The operator recorded what it did (Events) and holds its Lease.
	poll(t, "operator events", func() error {
		var events eventsv1.EventList
		if err := admin.List(ctx, &events, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Reason == "Created" && e.Regarding.Kind == "KafkaTopic" {
				return nil
			}
		}
		return fmt.Errorf("no Created event among %d events", len(events.Items))
	})
	var lease coordinationv1.Lease
	if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: operatorapp.LeaderElectionID}, &lease); err != nil {
		t.Fatalf("leader Lease: %v", err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Error("the leader Lease has no holder")
	}

	// Least privilege has teeth: outside its Role the operator is refused.
	opClient, _ := as(t, adminCfg, ns, operatorSA)
	for what, err := range map[string]error{
		"list Secrets":                  opClient.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)),
		"list Pods":                     opClient.List(ctx, &corev1.PodList{}, client.InNamespace(ns)),
		"list KafkaTopics cluster-wide": opClient.List(ctx, &messagingv1alpha1.KafkaTopicList{}),
		"create a ConfigMap":            opClient.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns}}),
	} {
		if !apierrors.IsForbidden(err) {
			t.Errorf("the operator may %s (err %v)", what, err)
		}
	}
}
