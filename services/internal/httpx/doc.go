// Package httpx holds what every REST API of vidstream shares: the router
// with its middleware (request ids, tracing named after the route, panic
// recovery, body limit, access log), JSON request and response helpers with
// strict decoding, RFC 9457 problem responses for apperr errors, and health
// endpoints.
//
// Handlers report failures by returning apperr errors to [WriteError]; they
// never choose status codes for domain failures themselves, so the mapping
// stays the same across services.
package httpx
