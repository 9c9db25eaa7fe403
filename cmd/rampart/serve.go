package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/server"
)

func newServeCmd() *cobra.Command {
	var (
		configFile string
		demo       bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run rampart: edge, control plane, dashboard and background jobs",
		Long: `Run rampart on this machine: the edge (reverse proxy) on --http-addr, the
dashboard and REST API on --admin-addr, and the reconcilers that keep the
edge in line with the services in the store (SQLite under --data).

Settings come from, in rising precedence: defaults, the YAML file given with
--config, RAMPART_* environment variables, and flags.

--demo starts a complete demo on unprivileged ports with a fresh data
directory (unless --data is given): a built-in demo app behind the service
"demo", the first admin account printed below, and platform domain
localhost, so that http://demo.localhost:8080/ works in a browser, and
https://demo.localhost:8443/ with a certificate from rampart's internal CA
(its root is printed and served at /ca.pem on the admin address).`,
		Example: `  rampart serve --demo
  rampart serve --config /etc/rampart/rampart.yaml
  RAMPART_PLATFORM_DOMAIN=apps.example.com rampart serve --data /var/lib/rampart`,
		Args: exactArgs(),
	}
	def := config.Default()
	flags := config.RegisterFlags(cmd.Flags(), def)
	cmd.Flags().StringVar(&configFile, "config", "", "YAML configuration file (RAMPART_CONFIG)")
	cmd.Flags().BoolVar(&demo, "demo", false, "run a self-contained demo on unprivileged ports")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg := config.Default()
		if demo {
			cfg.AdminAddr = "127.0.0.1:7070"
			cfg.HTTPAddr = "127.0.0.1:8080"
			cfg.HTTPSAddr = "127.0.0.1:8443"
			cfg.Platform.Domain = "localhost"
			cfg.Admin.Domain = "rampart.localhost"
			cfg.Node.PublicIPs = []string{"127.0.0.1"}
			cfg.Data = ""
		}
		if configFile == "" {
			configFile = os.Getenv("RAMPART_CONFIG")
		}
		if configFile != "" {
			if err := cfg.LoadFile(configFile); err != nil {
				return err
			}
		}
		if err := cfg.LoadEnv(os.Environ()); err != nil {
			return err
		}
		flags.Apply(&cfg)
		if demo {
			// A demo on a laptop must never change the host's ruleset.
			cfg.Firewall.Enforce = false
		}
		if demo && cfg.Data == "" {
			dir, err := os.MkdirTemp("", "rampart-demo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			cfg.Data = dir
		}
		if demo {
			// A demo never changes a real account's authorized_keys,
			// whatever a config file or the environment says.
			cfg.SSH.ManageAuthorizedKeys = false
		}
		if err := cfg.Validate(); err != nil {
			return usageError{err}
		}
		log := newLogger(cmd.ErrOrStderr(), cfg)
		if procs, of, ok := leaveACPU(); ok {
			log.Info("the Go scheduler uses one CPU fewer than it could, leaving it to the services on this machine; GOMAXPROCS in the environment decides instead", "procs", procs, "cpus", of)
		}
		srv, err := server.New(cfg, log)
		if err != nil {
			return err
		}
		if demo {
			d, err := server.SetUpDemo(cmd.Context(), srv.App())
			if err != nil {
				return err
			}
			defer d.Stop()
			printDemo(cmd.OutOrStdout(), srv, cfg, d)
		}
		return srv.Run(cmd.Context())
	}
	return cmd
}

func newLogger(w io.Writer, cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func printDemo(w io.Writer, srv *server.Server, cfg config.Config, d *server.Demo) {
	_, httpPort := splitPort(srv.HTTPAddr())
	dashboardTLS := ""
	if _, httpsPort := splitPort(srv.HTTPSAddr()); cfg.Admin.Domain != "" && httpsPort != "" {
		dashboardTLS = fmt.Sprintf("\n                https://%s:%s/   (HTTPS, once the browser trusts the CA root below)", cfg.Admin.Domain, httpsPort)
	}
	fmt.Fprintf(w, `
  rampart demo is running.

    Dashboard   http://%s/`+dashboardTLS+`
    Demo app    http://demo.%s:%s/   (through rampart's edge)
    API         http://%s/api/v1/    (OpenAPI: /api/v1/openapi.json)
    Data        %s
`, srv.AdminAddr(), cfg.Platform.Domain, httpPort, srv.AdminAddr(), cfg.Data)
	if d.Password != "" {
		fmt.Fprintf(w, `
    Log in as   %s
    Password    %s      (shown only this once)
    Login code  printed in this terminal after the password (the demo sends no mail)
`, d.Email, d.Password)
	} else {
		fmt.Fprintf(w, "\n    Log in as   %s (the account already existed in this data directory)\n", d.Email)
		fmt.Fprintln(w, "    Login code  printed in this terminal after the password (no mail server is configured)")
	}
	if httpsAddr := srv.HTTPSAddr(); httpsAddr != "" {
		_, httpsPort := splitPort(httpsAddr)
		m := srv.Certs()
		fmt.Fprintf(w, `
    HTTPS       https://demo.%s:%s/  (certificate from rampart's internal CA)
    CA root     %s
                SHA-256 %s
                also at http://%s/ca.pem: import it into the browser to trust it
`, cfg.Platform.Domain, httpsPort, m.InternalRootPath(), m.InternalRootFingerprint(), srv.AdminAddr())
		fmt.Fprintf(w, "\n  Try:  curl --cacert %s --resolve demo.%s:%s:127.0.0.1 https://demo.%s:%s/\n", m.InternalRootPath(), cfg.Platform.Domain, httpsPort, cfg.Platform.Domain, httpsPort)
	}
	fmt.Fprintf(w, "\n  Try:  curl -H 'Host: demo.%s' http://%s/\n", cfg.Platform.Domain, srv.HTTPAddr())
	fmt.Fprintf(w, "        curl -si -H 'Host: demo.%s' http://%s/cached   (twice: the second is X-Cache: HIT)\n", cfg.Platform.Domain, srv.HTTPAddr())
	// The CLI is a client of the API: this one line gives it a token of
	// the demo admin and logs it in, so that the next command works.
	self := shellQuote(os.Args[0])
	fmt.Fprintf(w, `
  CLI:  %s token create --data %s --email %s | %s login --server http://%s --token-stdin
        %s service list
`, self, shellQuote(cfg.Data), d.Email, self, srv.AdminAddr(), self)
	fmt.Fprint(w, "\n  Stop with Ctrl-C.\n\n")
}

// shellQuote quotes s for a POSIX shell when it needs it, so that a banner
// line can be pasted as it is.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@=+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func splitPort(addr string) (host, port string) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:]
		}
	}
	return addr, ""
}

// leaveACPU has serve's Go scheduler use one CPU fewer than it would (Go's
// default: the CPUs the process may use), at least one, unless GOMAXPROCS
// is in the environment. It reports the new value, the old, and whether
// it changed anything.
//
// Why: rampart shares its machine with what it fronts, the apps it runs
// and their databases, and with the kernel's network stack that carries
// every request twice. A proxy request wakes the edge, the app and the
// client in turn; with as many Ps as CPUs, the scheduler's idle Ps spin
// looking for work that the other processes are about to make, and every
// process's threads preempt each other. On a 2-CPU host (peers.sh, cache
// off, alternating runs) one P took a proxied request from 50–56 µs of
// rampart's CPU to 35–40 and served more of them per second, since the
// app and the client got the CPU back; see docs/benchmarks.md. The price
// is one CPU of headroom for work the edge does alone (cache hits, TLS
// handshakes) on a machine where nothing else runs: set GOMAXPROCS there.
func leaveACPU() (procs, of int, changed bool) {
	if os.Getenv("GOMAXPROCS") != "" {
		return 0, 0, false
	}
	of = runtime.GOMAXPROCS(0)
	if of <= 1 {
		return of, of, false
	}
	runtime.GOMAXPROCS(of - 1)
	return of - 1, of, true
}
