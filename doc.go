// Package rampart holds the domain types of rampart — users, services, API
// tokens, sessions, audit events — their validation rules and the error codes
// every layer speaks. It does no I/O and imports nothing from this module:
// the store, the service layer (internal/app), the REST API, the dashboard
// and the CLI all agree on these definitions, so a rule (what a valid
// service name is, say) is written once, here.
package rampart
