package charts_test

import (
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	operatorapp "github.com/vidstream/vidstream/services/topic-operator/app"
	transcoderapp "github.com/vidstream/vidstream/services/transcoder/app"
	userapp "github.com/vidstream/vidstream/services/user/app"
	videoapp "github.com/vidstream/vidstream/services/video/app"
	historyapp "github.com/vidstream/vidstream/services/watch-history/app"
)

// envNames lists the variables a service's Config reads (its `env` tags),
// including those of embedded structs such as service.Base.
func envNames(cfg any) map[string]bool {
	names := map[string]bool{}
	addEnvNames(reflect.TypeOf(cfg), names)
	return names
}

func addEnvNames(t reflect.Type, names map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			addEnvNames(f.Type, names)
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
			names[name] = true
		}
	}
}

// readElsewhere reports variables that something other than the service's
// Config reads: the telemetry package and the OpenTelemetry SDK, the Go
// runtime, and Kubernetes itself, which expands $(POD_NAME) and
// $(POD_NAMESPACE) into OTEL_RESOURCE_ATTRIBUTES.
func readElsewhere(name string) bool {
	switch name {
	case "LOG_LEVEL", "GOMEMLIMIT", "POD_NAME", "POD_NAMESPACE":
		return true
	}
	return strings.HasPrefix(name, "OTEL_")
}

// TestServiceEnvIsReadByTheService catches a chart setting a variable the
// binary does not read (a renamed setting silently falls back to its default
// in the cluster, which no other test would notice). The topic operator is
// checked like the services.
func TestServiceEnvIsReadByTheService(t *testing.T) {
	services := map[string]map[string]bool{
		"user":           envNames(userapp.Config{}),
		"video":          envNames(videoapp.Config{}),
		"watch-history":  envNames(historyapp.Config{}),
		"topic-operator": envNames(operatorapp.Config{}),
		"transcoder":     envNames(transcoderapp.Config{}),
	}
	for _, scenario := range scenarios {
		r := render(t, scenario, "vidstream")
		for svc, reads := range services {
			var set []string
			for _, o := range r.ofKind("ConfigMap") {
				if cm := o.typed.(*corev1.ConfigMap); strings.HasSuffix(cm.Name, "-"+svc) {
					for k := range cm.Data {
						set = append(set, k)
					}
				}
			}
			for _, o := range r.ofKind("Deployment") {
				d := o.typed.(*appsv1.Deployment)
				if !strings.HasSuffix(d.Name, "-"+svc) {
					continue
				}
				for _, c := range d.Spec.Template.Spec.Containers {
					for _, e := range c.Env {
						set = append(set, e.Name)
					}
				}
			}
			if svc == "topic-operator" && !operatorOn(scenario) {
				if len(set) > 0 {
					t.Errorf("%s: configuration rendered for the topic operator, which is off", scenario)
				}
				continue
			}
			if len(set) == 0 {
				t.Errorf("%s: no configuration rendered for %s", scenario, svc)
			}
			for _, name := range set {
				if !reads[name] && !readElsewhere(name) {
					t.Errorf("%s: chart sets %s for %s, which the service does not read", scenario, name, svc)
				}
			}
		}
	}
}
