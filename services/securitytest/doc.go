// Package securitytest holds tests that check security properties across
// every service at once, such as every mutating REST route refusing
// requests without a valid token. It has no non-test code.
package securitytest
