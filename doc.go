// Package rampart holds the domain types of rampart — users, services, API
// tokens, sessions, audit events — their validation rules and the error codes
// every layer speaks, and the REST API's contract: the request, response and
// filter types that the server (internal/api) encodes and the client
// (internal/client) decodes, and the status of each error code. It does no
// I/O and imports nothing from this module but internal/limits (the bounds
// it shares with the edge): the store, the service layer (internal/app), the
// REST API, the dashboard and the CLI all agree on these definitions, so a
// rule (what a valid service name is, say) is written once, here.
package rampart
