package charts_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	operatorapp "github.com/vidstream/vidstream/services/topic-operator/app"
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

// module is this repository's Go module path.
const module = "github.com/vidstream/vidstream"

// envNamesFromSource lists the variables the struct typeName of the package
// in dir reads (its `env` tags, and those of embedded structs of this
// module), from the source: for a service whose package may not exist yet
// on every branch (the transcoder), so that this test compiles without it.
// ok is false when the package has no such struct.
func envNamesFromSource(t *testing.T, dir, typeName string) (names map[string]bool, ok bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		imports := map[string]string{}
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			name := filepath.Base(path)
			if imp.Name != nil {
				name = imp.Name.Name
			}
			imports[name] = path
		}
		for _, decl := range file.Decls {
			gd, isGen := decl.(*ast.GenDecl)
			if !isGen || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				st, isStruct := ts.Type.(*ast.StructType)
				if ts.Name.Name != typeName || !isStruct {
					continue
				}
				names = map[string]bool{}
				for _, field := range st.Fields.List {
					if field.Tag != nil {
						tag, _ := strconv.Unquote(field.Tag.Value)
						if name, _, _ := strings.Cut(reflect.StructTag(tag).Get("env"), ","); name != "" {
							names[name] = true
						}
					}
					// An embedded struct of this module (service.Base).
					if sel, isSel := field.Type.(*ast.SelectorExpr); isSel && field.Names == nil {
						pkg := imports[sel.X.(*ast.Ident).Name]
						if rel, inModule := strings.CutPrefix(pkg, module+"/"); inModule {
							embedded, found := envNamesFromSource(t, filepath.Join("..", rel), sel.Sel.Name)
							if !found {
								t.Fatalf("%s: no struct %s in %s", f, sel.Sel.Name, pkg)
							}
							for n := range embedded {
								names[n] = true
							}
						}
					}
				}
				return names, true
			}
		}
	}
	return nil, false
}

// pendingEnv lists variables the chart sets before the service reads them:
// the job queue and the cache of video, whose code lands on its own
// branch. The test tolerates them only while the service does not read
// them, and fails once it does, so that this list empties itself.
var pendingEnv = map[string][]string{
	"video": {"RABBITMQ_URL"},
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
	}
	// The transcoder's Config, read from its source (see envNamesFromSource).
	if transcoder, ok := envNamesFromSource(t, filepath.Join("..", "services", "transcoder", "app"), "Config"); ok {
		services["transcoder"] = transcoder
	} else if _, err := os.Stat(filepath.Join("..", "services", "transcoder")); err == nil {
		t.Error("services/transcoder exists but services/transcoder/app has no Config struct: teach this test where it reads its environment")
	} else {
		t.Log("services/transcoder does not exist yet: the transcoder chart's environment is not checked")
	}
	for svc, names := range pendingEnv {
		for _, name := range names {
			if services[svc][name] {
				t.Errorf("%s reads %s now: remove it from pendingEnv", svc, name)
			}
		}
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
				if !reads[name] && !readElsewhere(name) && !slices.Contains(pendingEnv[svc], name) {
					t.Errorf("%s: chart sets %s for %s, which the service does not read", scenario, name, svc)
				}
			}
		}
	}
}

// TestEnvNamesFromSourceMatchesTheCompiledConfig: the source reading that
// checks the transcoder finds, for the services this test imports, exactly
// what reflection on their compiled Config finds (embedded service.Base
// included).
func TestEnvNamesFromSourceMatchesTheCompiledConfig(t *testing.T) {
	compiled := map[string]map[string]bool{
		"user":          envNames(userapp.Config{}),
		"video":         envNames(videoapp.Config{}),
		"watch-history": envNames(historyapp.Config{}),
	}
	for svc, want := range compiled {
		got, ok := envNamesFromSource(t, filepath.Join("..", "services", svc, "app"), "Config")
		if !ok {
			t.Fatalf("%s: no Config struct found in the source", svc)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: from the source %v, compiled %v", svc, keys(got), keys(want))
		}
	}
}
