// Package grpcx builds the gRPC servers and clients of the east-west hops
// (watch-history → user, → video), with the behavior every hop needs and
// nobody should have to remember: OpenTelemetry tracing and metrics through
// the service's own providers, panic recovery, domain errors (apperr) mapped
// to status codes and back, health and reflection, keepalive limits, default
// deadlines and retries of UNAVAILABLE.
//
// The error mapping is symmetric: a server handler returns an *apperr.Error,
// the interceptor turns it into a status with [ToStatus], and a client adapter
// turns the status back into an *apperr.Error with [FromStatus]. So
// watch-history can answer 404 for a video that video reported NOT_FOUND
// without knowing anything about gRPC codes.
package grpcx
