package server

import (
	"github.com/rampart-dev/rampart/internal/agent"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/certs"
)

// The data plane's parts are what the service layer's interfaces ask for
// (New wires them; the certificate manager through a function, because it
// is made after the App).
var (
	_ app.CachePurger         = edgeCache{}
	_ app.DNSChecker          = (*agent.Domains)(nil)
	_ app.CertificateResetter = (*certs.Manager)(nil)
)
