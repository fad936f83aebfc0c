// Package faultdrill holds the fault drills: tests that break a dependency
// of the running system under steady load, check what it promises (no
// acknowledged write lost, fast 503s with Retry-After, recovery without
// anyone's help) and log the figures docs/reliability.md records. They
// assert outcomes, never durations: the durations are measured and logged.
//
// They take a while, so they run when VIDSTREAM_FAULTDRILL=1 or when the
// real test servers are configured (as in CI).
package faultdrill
