// Package telemetry builds the OpenTelemetry providers and the structured
// logger a service process uses, from the standard OTEL_* environment.
//
// Libraries never read OpenTelemetry globals: they take a [Providers] value.
// Only a service's main (through [Setup]) decides where telemetry goes, which
// keeps tests able to run several services in one process, each recording its
// own spans (see package telemetrytest).
package telemetry
