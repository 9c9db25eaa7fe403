// Package certs gives every domain rampart fronts a certificate, keeps it
// renewed and hands it to the edge during TLS handshakes.
//
// It is built on certmagic, Caddy's certificate engine: the ACME client and
// its HTTP-01 and TLS-ALPN-01 solvers, the account handling, the on-disk
// storage with its locks, the in-memory certificate cache and OCSP stapling
// are all certmagic's. What this package adds is the policy around it:
//
//   - Which names get a certificate. A reconciler hands the manager the
//     complete list of domains with a TLS mode each ([Manager.SetDomains]),
//     like the edge's routing table. Only names on that list are ever sent
//     to a CA; a handshake for any other server name is refused before
//     certmagic sees it, so a stranger pointing DNS at this machine cannot
//     make it spend CA rate limits. Issuance starts as soon as a name is on
//     the list (the caller lists a managed name once its DNS points here),
//     not at the first handshake.
//
//   - When to obtain and renew, and what to tell a person about it. The
//     manager runs its own small scheduler instead of certmagic's renewal
//     loop, so that every attempt's outcome lands in a [Status] with an
//     error a person can act on ("the CA could not connect to this server
//     …", "the CA is unreachable …; next attempt in 2m0s"), the retry
//     backoff is known and configurable, and tests can run a whole
//     renewal cycle in seconds. certmagic still decides whether a
//     certificate is due (its renewal window) and still refreshes OCSP
//     staples in the background. While renewal keeps failing the current
//     certificate is served until it expires: a CA outage never takes a
//     working site down.
//
//   - An internal CA (package internalca) for names no public CA will certify
//     (demo.localhost, *.test) and for the default certificate that answers
//     handshakes without SNI, so that the demo runs on HTTPS too.
//
//   - Uploaded certificates (mode custom, e.g. a Cloudflare origin
//     certificate), validated on the way in and OCSP-stapled like the rest.
//
//   - Repair: [Manager.Reset] moves certificate storage aside and issues
//     again (`rampart ssl reset`); a certificate file found corrupt when it
//     is loaded is moved to a quarantine directory and replaced, and its
//     status says so.
//
// Layout under [Config.Dir]: storage/ (certmagic's file storage:
// certificates, ACME account, OCSP staples, locks), internal-ca/ (the
// internal root; its key 0600), quarantine/ (corrupt files moved aside) and
// storage.old-<time>/ (what Reset moved aside).
//
// The package knows nothing about the store or HTTP handlers beyond the two
// hooks the edge needs: [Manager.TLSConfig] for the HTTPS listener and
// [Manager.HTTPHandler] for the HTTP listener (ACME challenges, then 308 to
// HTTPS for names that have a certificate).
package certs
