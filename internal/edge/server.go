package edge

import (
	"log/slog"
	"net/http"
	"time"
)

// Limits of the server NewServer builds.
const (
	// ReadHeaderTimeout bounds how long a client may take to send request
	// headers (slowloris).
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes keep-alive connections that sit unused.
	IdleTimeout = 120 * time.Second
	// MaxHeaderBytes bounds request headers; nginx's default is 4×8 KiB.
	MaxHeaderBytes = 64 << 10
)

// NewServer returns an http.Server for a public listener in front of h
// (usually an *Edge, possibly wrapped by an ACME challenge handler). The
// caller sets TLSConfig for HTTPS and owns Serve and Shutdown.
//
// It sets no ReadTimeout or WriteTimeout: either would cut off uploads,
// server-sent events and WebSockets, which are legitimate and long. Request
// headers are bounded by ReadHeaderTimeout and idle connections by
// IdleTimeout. errorLog receives net/http's own errors (TLS handshake
// failures and the like); nil means slog.Default.
func NewServer(addr string, h http.Handler, errorLog *slog.Logger) *http.Server {
	if errorLog == nil {
		errorLog = slog.Default()
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		// "OPTIONS *" belongs to the routed service, not to net/http.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(errorLog.Handler(), slog.LevelWarn),
	}
}
