// Package limits defines the bounds of every per-service setting in one
// place. The service layer validates what people type against them, and the
// enforcement packages (the rate limiter, the output cache) check the same
// numbers, so that nothing the service layer accepts is refused later by
// the edge: a refusal there would leave the service out of the routing
// table. The default per-account quotas live here too, so that the
// configuration and the service layer cannot disagree on them. It imports
// nothing but time, so every layer may use it.
package limits

import "time"

// Rate limiter.
const (
	// RateLimitMinRequests and RateLimitMaxRequests bound how many requests
	// one client may send per period; more than a million per second is no
	// limit at all.
	RateLimitMinRequests = 1
	RateLimitMaxRequests = 1_000_000
	// RateLimitMaxAllow bounds a service's allow-list of networks that are
	// never limited. The limiter looks entries up in a sorted table, so the
	// cost per request grows with the logarithm of this.
	RateLimitMaxAllow = 10_000
)

// Output cache.
const (
	// CacheMinTTL and CacheMaxTTL bound how long a response is served from
	// the cache.
	CacheMinTTL = time.Second
	CacheMaxTTL = time.Hour
	// CacheMaxStaleIfError bounds how long past its TTL a cached copy may
	// still be served while the upstream fails.
	CacheMaxStaleIfError = 24 * time.Hour
	// CacheMaxObjectBytes bounds the largest response body one service may
	// have cached.
	CacheMaxObjectBytes = 64 << 20
)

// HSTS (the Strict-Transport-Security header the edge sends on a
// service's HTTPS responses).
const (
	// HSTSDefaultMaxAge is the max-age a service gets when HSTS is turned
	// on without one: a year, in seconds.
	HSTSDefaultMaxAge = 31_536_000
	// HSTSMaxMaxAge bounds max-age at two years: the longest value the
	// browsers' preload list asks for. Longer commits browsers for no gain.
	HSTSMaxMaxAge = 63_072_000
	// HSTSPreloadMinMaxAge is the shortest max-age the preload list
	// accepts (a year).
	HSTSPreloadMinMaxAge = 31_536_000
)

// Quotas bound what one member account may own, so that one tenant of a
// shared host cannot grow the store and the edge's routing table (memory
// grows with every service and domain) without end. Admins and the
// operator are exempt. Each is a setting (quotas.*); these are the
// defaults a small shared host would choose.
type Quotas struct {
	ServicesPerAccount int
	DomainsPerService  int
	DomainsPerAccount  int
	TokensPerAccount   int
}

// DefaultQuotas returns the quotas used when the configuration says nothing.
func DefaultQuotas() Quotas {
	return Quotas{ServicesPerAccount: 20, DomainsPerService: 20, DomainsPerAccount: 100, TokensPerAccount: 20}
}
