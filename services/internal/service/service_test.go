package service_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-chi/chi/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/vidstream/vidstream/services/internal/config"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// greeter is the smallest service worth the name, written as a fourth
// vidstream service would be: a spec and a Build function. POST
// /v1/greetings/{name} stores a greeting and, in the same transaction, an
// event; its own consumer reads the event back from Kafka and marks the
// greeting delivered, which GET /v1/greetings/{name} reports. gRPC serves
// grpc.testing.TestService's EmptyCall.
func greeter(topic string) service.Spec {
	return service.Spec{
		Name:     "greeter",
		HTTPPort: 18089,
		GRPCPort: 19089,
		Migrations: fstest.MapFS{
			"sqlite/00001_greetings.sql": {Data: []byte(`-- +goose Up
CREATE TABLE greetings (name TEXT PRIMARY KEY, delivered INTEGER NOT NULL DEFAULT 0);
-- +goose Down
DROP TABLE greetings;
`)},
		},
		OpenAPI:  []byte(`{"openapi":"3.1.0"}`),
		Produces: []string{topic},
		Build: func(_ context.Context, k *service.Kit) (service.Parts, error) {
			return service.Parts{
				HTTP: func(r chi.Router) http.Handler {
					r.Post("/v1/greetings/{name}", func(w http.ResponseWriter, r *http.Request) {
						name := chi.URLParam(r, "name")
						err := k.DB.InTx(r.Context(), func(tx *sql.Tx) error {
							if _, err := tx.ExecContext(r.Context(), `INSERT INTO greetings (name) VALUES (?)`, name); err != nil {
								return err
							}
							return k.Outbox.Enqueue(r.Context(), tx, outbox.Event{Topic: topic, Key: name, Payload: wrapperspb.String(name)})
						})
						if err != nil {
							http.Error(w, err.Error(), http.StatusInternalServerError)
							return
						}
						w.WriteHeader(http.StatusCreated)
					})
					r.Get("/v1/greetings/{name}", func(w http.ResponseWriter, r *http.Request) {
						var delivered bool
						err := k.DB.QueryRowContext(r.Context(), `SELECT delivered FROM greetings WHERE name = ?`, chi.URLParam(r, "name")).Scan(&delivered)
						switch {
						case errors.Is(err, sql.ErrNoRows):
							w.WriteHeader(http.StatusNotFound)
						case err != nil:
							http.Error(w, err.Error(), http.StatusInternalServerError)
						case !delivered:
							w.WriteHeader(http.StatusAccepted)
						default:
							w.WriteHeader(http.StatusOK)
						}
					})
					return r
				},
				GRPC: func(s *grpc.Server) { testpb.RegisterTestServiceServer(s, testService{}) },
				Consumers: []service.Consumer{{
					Topic: topic,
					Group: "greeter.delivery",
					Handle: func(ctx context.Context, tx *sql.Tx, m kafkabus.Message) error {
						var name wrapperspb.StringValue
						if err := proto.Unmarshal(m.Value, &name); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, `UPDATE greetings SET delivered = 1 WHERE name = ?`, name.GetValue())
						return err
					},
				}},
			}, nil
		},
	}
}

type testService struct {
	testpb.UnimplementedTestServiceServer
}

func (testService) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	return &testpb.Empty{}, nil
}

// A service described by its spec alone starts, serves REST (its routes
// and the ops routes) and gRPC (its service and health), publishes through
// the outbox, consumes its topic, and stops cleanly (servicetest.Run).
func TestTinyServiceServesPublishesConsumesAndStops(t *testing.T) {
	topic := kafkatest.Name(t, "greetings")
	base := servicetest.Base(t, "sqlite://"+filepath.Join(t.TempDir(), "greeter.db"), kafkatest.Broker(t))
	if err := service.ApplyDefaults(t.Context(), &base); err != nil {
		t.Fatal(err)
	}
	a, err := service.New(t.Context(), greeter(topic), base, telemetry.Noop())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	servicetest.Run(t, "greeter", a.Run)
	url := "http://" + a.HTTPAddr()
	client := &http.Client{Timeout: 10 * time.Second}

	kafkatest.Eventually(t, func() error { return expect(client, http.MethodGet, url+"/readyz", http.StatusOK) })
	for path, want := range map[string]int{"/healthz": 200, "/metrics": 200, "/openapi.json": 200, "/nowhere": 404} {
		if err := expect(client, http.MethodGet, url+path, want); err != nil {
			t.Error(err)
		}
	}

	conn, err := grpcx.Dial(a.GRPCAddr(), telemetry.Noop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := testpb.NewTestServiceClient(conn).EmptyCall(t.Context(), &testpb.Empty{}); err != nil {
		t.Errorf("EmptyCall: %v", err)
	}
	if _, err := testpb.NewTestServiceClient(conn).UnaryCall(t.Context(), &testpb.SimpleRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("UnaryCall = %v, want Unimplemented", err)
	}
	kafkatest.Eventually(t, func() error {
		res, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err == nil && res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			err = fmt.Errorf("gRPC health: %v", res.GetStatus())
		}
		return err
	})

	if err := expect(client, http.MethodPost, url+"/v1/greetings/ada", http.StatusCreated); err != nil {
		t.Fatal(err)
	}
	// The greeting travels outbox → relay → Kafka → consumer → database.
	kafkatest.Eventually(t, func() error { return expect(client, http.MethodGet, url+"/v1/greetings/ada", http.StatusOK) })
}

// The skeleton's defaults are the env tags', and the Spec's ports and name
// fill what depends on the service.
func TestDefaults(t *testing.T) {
	var loaded service.Base
	if err := config.Load(t.Context(), func(string) string { return "" }, &loaded); err != nil {
		t.Fatal(err)
	}
	var applied service.Base
	if err := service.ApplyDefaults(t.Context(), &applied); err != nil {
		t.Fatal(err)
	}
	want := service.Base{KafkaBrokers: []string{"127.0.0.1:9092"}, RPCTimeout: 2 * time.Second, ShutdownTimeout: 10 * time.Second,
		ServiceAuth: service.ServiceAuthRequired}
	if !reflect.DeepEqual(loaded, want) || !reflect.DeepEqual(applied, want) {
		t.Errorf("Load = %+v\nApplyDefaults = %+v\nwant %+v", loaded, applied, want)
	}
	kept := service.Base{RPCTimeout: time.Minute}
	if err := service.ApplyDefaults(t.Context(), &kept); err != nil || kept.RPCTimeout != time.Minute {
		t.Errorf("ApplyDefaults overwrote a set field: %v, %v", kept.RPCTimeout, err)
	}
}

// A spec that cannot work is refused by New, not discovered at run time.
func TestNewRefusesInconsistentSpecs(t *testing.T) {
	base := servicetest.Base(t, "sqlite://"+filepath.Join(t.TempDir(), "x.db"), []string{"127.0.0.1:1"})
	for name, spec := range map[string]service.Spec{
		"no HTTP": {Name: "x", Build: func(context.Context, *service.Kit) (service.Parts, error) { return service.Parts{}, nil }},
		"gRPC without a port": {Name: "x", Build: func(context.Context, *service.Kit) (service.Parts, error) {
			return service.Parts{HTTP: func(r chi.Router) http.Handler { return r }, GRPC: func(*grpc.Server) {}}, nil
		}},
		"consumers without a database": {Name: "x", Build: func(context.Context, *service.Kit) (service.Parts, error) {
			return service.Parts{
				HTTP:      func(r chi.Router) http.Handler { return r },
				Consumers: []service.Consumer{{Topic: "t", Group: "g"}},
			}, nil
		}},
		"Build fails": {Name: "x", Build: func(context.Context, *service.Kit) (service.Parts, error) {
			return service.Parts{}, errors.New("no")
		}},
	} {
		t.Run(name, func(t *testing.T) {
			if a, err := service.New(t.Context(), spec, base, telemetry.Noop()); err == nil {
				t.Errorf("New = %v, want an error", a)
			}
		})
	}
}

// expect sends a request without a body and checks its status code.
func expect(c *http.Client, method, url string, want int) error {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s = %d, want %d", method, url, resp.StatusCode, want)
	}
	return nil
}
