package grpcx

import (
	"github.com/vidstream/vidstream/services/internal/telemetry"
)

// withDefaults fills unset providers with no-ops. otelgrpc would fall back to
// the otel globals, and our libraries never read those: a forgotten field
// must mean "no telemetry", not "someone else's telemetry".
func withDefaults(p telemetry.Providers) telemetry.Providers {
	noop := telemetry.Noop()
	if p.Tracer == nil {
		p.Tracer = noop.Tracer
	}
	if p.Meter == nil {
		p.Meter = noop.Meter
	}
	if p.Propagator == nil {
		p.Propagator = noop.Propagator
	}
	if p.Logger == nil {
		p.Logger = noop.Logger
	}
	return p
}
