package api

import _ "embed"

// openAPIDocument is served at /api/v1/openapi.json. It is written by hand,
// so that it can say what each endpoint is for, and kept honest by
// openapi_test.go, which checks it against the route table and the Go types
// the handlers encode and decode.
//
//go:embed openapi.json
var openAPIDocument []byte
