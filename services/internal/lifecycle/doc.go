// Package lifecycle runs the parts of a service process (HTTP and gRPC
// servers, background workers) together, and stops them in the order that
// loses no work when the process is told to stop or one part fails:
//
//  1. readiness goes false, so load balancers stop sending new requests;
//  2. after the optional DrainDelay, servers stop accepting and finish the
//     requests they have (HTTP Shutdown, gRPC GracefulStop), bounded by
//     ShutdownTimeout, after which the stragglers are cut off;
//  3. workers are canceled and awaited: only now, because requests still
//     in flight during step 2 may have handed them work (an outbox row to
//     relay, a message to publish);
//  4. shutdown hooks run, last registered first; telemetry goes last so it
//     records everything above.
//
// main wires SIGINT/SIGTERM to the context given to Run
// (signal.NotifyContext), which keeps this package free of process globals
// and lets tests stop a Group by canceling a context.
package lifecycle
