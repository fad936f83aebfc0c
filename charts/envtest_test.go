package charts_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// warnings collects the API server's warnings (Pod Security, deprecations)
// per request.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

// startAPIServer starts etcd and kube-apiserver from KUBEBUILDER_ASSETS
// (hack/k8s-tools.sh builds them; `make k8s-check` sets it). Without it the
// test is skipped, except in CI, where a skip would hide that nothing was
// checked. It returns an admin client that collects the server's warnings,
// and the admin rest config. (services/internal/k8stest does the same for
// the services' tests; Go's internal rule keeps it out of reach here.)
func startAPIServer(t *testing.T) (client.Client, *warnings, *rest.Config) {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("KUBEBUILDER_ASSETS is not set: CI must create the rendered objects on a real API server " +
				"(hack/k8s-tools.sh builds kube-apiserver and etcd; `make k8s-check` sets it)")
		}
		t.Skip("KUBEBUILDER_ASSETS is not set: run `make k8s-check`, or hack/k8s-tools.sh and export KUBEBUILDER_ASSETS=$(hack/k8s-tools.sh assets)")
	}
	env := &envtest.Environment{ControlPlaneStartTimeout: 90 * time.Second}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the API server: %v", err)
		}
	})
	w := &warnings{}
	admin := cfg
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, w, admin
}

// restrictedNamespace creates a namespace that enforces the restricted Pod
// Security Standard (and warns about workload templates that break it), with
// the default ServiceAccount the controller manager would create.
func restrictedNamespace(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
		"pod-security.kubernetes.io/audit":   "restricted",
	}}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}}
	if err := c.Create(ctx, sa); err != nil {
		t.Fatalf("create default ServiceAccount: %v", err)
	}
}

// TestObjectsAreAcceptedByTheAPIServer creates every object of every
// scenario (helm test pods included) on a real kube-apiserver of the
// release the charts target, with strict field validation, in a namespace
// enforcing the restricted Pod Security Standard. Any error or warning fails
// the test. The CRDs of the charts' crds/ folders (the KafkaTopic CRD) come
// first and must be established, as `helm install` creates them, so the
// custom resources (KafkaTopics) are validated against their schema.
func TestObjectsAreAcceptedByTheAPIServer(t *testing.T) {
	c, w, _ := startAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The check has teeth: the same namespace setup rejects a privileged
	// pod and warns about a Deployment that would run one.
	restrictedNamespace(ctx, t, c, "control")
	bad := corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.37.0"}}}
	if err := c.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "control"}, Spec: bad}); err == nil {
		t.Fatal("a pod breaking the restricted standard was admitted: Pod Security admission is not running")
	}
	badDeploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "control"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bad"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "bad"}}, Spec: bad},
		},
	}
	w.take()
	if err := c.Create(ctx, badDeploy); err != nil {
		t.Fatalf("create the control Deployment: %v", err)
	}
	if msgs := w.take(); len(msgs) == 0 {
		t.Fatal("no warning for a Deployment breaking the restricted standard: warnings are not collected")
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "bad", "namespace": "control"}, "datta": map[string]any{},
	}}
	if err := c.Create(ctx, u, client.FieldValidation(metav1.FieldValidationStrict)); err == nil {
		t.Fatal("an unknown field was accepted: strict field validation is not on")
	}

	for _, s := range scenarios {
		t.Run(s, func(t *testing.T) {
			ns := "vidstream-" + s
			restrictedNamespace(ctx, t, c, ns)
			r := render(t, s, ns)
			crds := r.ofKind("CustomResourceDefinition")
			if len(crds) == 0 && operatorOn(s) {
				t.Fatal("no CustomResourceDefinition rendered: the KafkaTopics would have no kind to be")
			}
			objs := append([]object{}, crds...)
			customs := 0
			for _, o := range r.objects {
				if o.u.GetKind() != "CustomResourceDefinition" {
					objs = append(objs, o)
				}
				if o.u.GetKind() == "KafkaTopic" {
					customs++
				}
			}
			created := 0
			for _, o := range objs {
				w.take()
				obj := o.u.DeepCopy()
				err := c.Create(ctx, obj, client.FieldValidation(metav1.FieldValidationStrict))
				if o.u.GetKind() == "CustomResourceDefinition" && apierrors.IsAlreadyExists(err) {
					// Cluster-scoped: an earlier scenario created it. Replace
					// it with this scenario's, as `kubectl apply -f k8s/crds/`
					// would on upgrade.
					var live apiextensionsv1.CustomResourceDefinition
					if err = c.Get(ctx, client.ObjectKey{Name: obj.GetName()}, &live); err == nil {
						obj.SetResourceVersion(live.ResourceVersion)
						err = c.Update(ctx, obj, client.FieldValidation(metav1.FieldValidationStrict))
					}
				}
				if err != nil {
					t.Errorf("%s: %v", o, err)
					continue
				}
				created++
				if msgs := w.take(); len(msgs) > 0 {
					t.Errorf("%s: warnings: %s", o, strings.Join(msgs, "; "))
				}
				if o.u.GetKind() == "CustomResourceDefinition" {
					waitEstablished(ctx, t, c, o.u.GetName())
				}
			}
			t.Logf("%d of %d objects (%d CRDs, %d KafkaTopics) created in namespace %s", created, len(objs), len(crds), customs, ns)
		})
	}
}

func waitEstablished(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	for {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
			t.Fatalf("get CRD %s: %v", name, err)
		}
		for _, cond := range crd.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal(fmt.Errorf("CRD %s not established: %w", name, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
