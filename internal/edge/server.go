package edge

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/rampart-dev/rampart/internal/connguard"
)

// Limits of the server NewServer builds.
const (
	// ReadHeaderTimeout bounds how long a client may take to send request
	// headers (slowloris), unless SlowClients says otherwise.
	ReadHeaderTimeout = connguard.DefaultHeaderTimeout
	// IdleTimeout closes keep-alive connections that sit unused.
	IdleTimeout = 120 * time.Second
	// MaxHeaderBytes bounds request headers; nginx's default is 4×8 KiB.
	MaxHeaderBytes = 64 << 10
)

// SlowClients bounds how slowly a client may send a request (the
// limits.* settings). Zero fields take connguard's defaults.
type SlowClients struct {
	HeaderTimeout time.Duration
	// A request body must move at least TransferMinBytes every
	// TransferWindow (see connguard.BodyRate).
	TransferWindow   time.Duration
	TransferMinBytes int
}

// NewServer returns an http.Server for a public listener in front of h
// (usually an *Edge, possibly wrapped by an ACME challenge handler). The
// caller sets TLSConfig for HTTPS and owns Serve and Shutdown; it serves
// through a connguard listener, which caps connections and makes writes
// move.
//
// It sets no ReadTimeout or WriteTimeout: either would cut off uploads,
// server-sent events and WebSockets, which are legitimate and long.
// Instead, request headers are bounded by the header timeout, request
// bodies by a minimum rate that moves the read deadline with progress, and
// idle connections by IdleTimeout. errorLog receives net/http's own errors
// (TLS handshake failures and the like); nil means slog.Default.
func NewServer(addr string, h http.Handler, errorLog *slog.Logger, slow SlowClients) *http.Server {
	if errorLog == nil {
		errorLog = slog.Default()
	}
	if slow.HeaderTimeout <= 0 {
		slow.HeaderTimeout = ReadHeaderTimeout
	}
	if slow.TransferWindow <= 0 {
		slow.TransferWindow = connguard.DefaultWindow
	}
	if slow.TransferMinBytes <= 0 {
		slow.TransferMinBytes = connguard.DefaultMinBytes
	}
	return &http.Server{
		Addr:              addr,
		Handler:           connguard.BodyRate(h, slow.TransferWindow, slow.TransferMinBytes),
		ReadHeaderTimeout: slow.HeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		// "OPTIONS *" belongs to the routed service, not to net/http.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(errorLog.Handler(), slog.LevelWarn),
	}
}
