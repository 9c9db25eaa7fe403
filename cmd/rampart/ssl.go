package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-dev/rampart"
)

func newSSLCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ssl",
		Short: "Troubleshoot certificates; turn on HSTS",
	}
	var domain string
	reset := &cobra.Command{
		Use:   "reset [--domain DOMAIN]",
		Short: "Move certificate storage aside and obtain certificates anew",
		Long: `For certificate storage that went bad. The old files are moved aside on the
server (kept, not deleted) and certificates are requested again at once;
handshakes for the affected names fail for the few seconds that takes.

With --domain only that name is reset: one of your custom domains, or a
service's own hostname where rampart's internal CA certifies it (the demo).
Without it everything is reset, including the ACME account: only an admin
can do that. Uploaded certificates (TLS mode custom) are not affected.

Afterwards open the site again, or watch: rampart domain list SERVICE`,
		Example: `  rampart ssl reset --domain shop.example.com
  rampart ssl reset`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("domain") && strings.TrimSpace(domain) == "" {
				return usageError{fmt.Errorf("--domain is empty: give a domain, or leave the flag out to reset everything")}
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			res, err := cl.ResetSSL(cmd.Context(), domain)
			if err != nil {
				return err
			}
			return output(cmd, res, func(w io.Writer) {
				what := "All certificate storage"
				if res.Domain != "" {
					what = "The certificates of " + res.Domain
				}
				if res.MovedTo != "" {
					fmt.Fprintf(w, "%s moved to %s on the server.\n", what, res.MovedTo)
				} else {
					fmt.Fprintf(w, "%s reset (nothing was stored to move).\n", what)
				}
				switch n := len(res.Reissuing); {
				case n == 0:
					fmt.Fprintln(w, "No managed domains to certify again.")
				case n == 1:
					fmt.Fprintf(w, "Obtaining a new certificate for %s now.\n", res.Reissuing[0])
				default:
					fmt.Fprintf(w, "Obtaining new certificates for %d domains now: %s\n", n, strings.Join(res.Reissuing, ", "))
				}
			})
		},
	}
	reset.Flags().StringVar(&domain, "domain", "", "reset only this domain")
	cmd.AddCommand(reset, newHSTSCmd(cf))
	return cmd
}

func newHSTSCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hsts",
		Short: "Show or change a service's HSTS (Strict-Transport-Security)",
		Long: `With HSTS on, the edge sends Strict-Transport-Security on every HTTPS
response of the service (never over plain HTTP), in place of any header the
application sends; off (the default), the application's own header passes
through.

HSTS is a commitment: a browser that has seen the header refuses plain HTTP
to the host, and will not let anyone click through a certificate error, for
max-age (a year by default). Turning HSTS off later does not release browsers
that remember it: send --max-age 0 for a while first. With
--include-subdomains the commitment covers every subdomain; --preload (which
needs a max-age of a year or more and --include-subdomains) marks the site for
the browsers' built-in list, which is slow to leave.`,
	}
	show := &cobra.Command{
		Use:   "show SERVICE",
		Short: "Show a service's HSTS setting",
		Args:  exactArgs("SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, s, err := cf.service(cmd, args[0])
			if err != nil {
				return err
			}
			return output(cmd, s.HSTS, func(w io.Writer) { printHSTS(w, s.Name, s.HSTS) })
		},
	}
	var (
		maxAge                       string
		subdomains, preload, off, on bool
	)
	set := &cobra.Command{
		Use:   "set SERVICE [--on | --off] [--max-age DURATION] [--include-subdomains[=false]] [--preload[=false]]",
		Short: "Change a service's HSTS; it applies at once, no restart",
		Long: `Change a service's HSTS. Without --on or --off it stays on or off as it is and
only its settings change. --max-age takes seconds or a duration: 1y, 180d,
26w, 4380h (0 to 2y; a year is 365 days).`,
		Example: `  rampart ssl hsts set blog --on
  rampart ssl hsts set blog --on --max-age 2y --include-subdomains --preload
  rampart ssl hsts set blog --max-age 0
  rampart ssl hsts set blog --off`,
		Args: exactArgs("SERVICE"),
	}
	set.Flags().StringVar(&maxAge, "max-age", "", "how long browsers keep to HTTPS only: seconds or a duration such as 1y, 180d (0 to 2y)")
	set.Flags().BoolVar(&subdomains, "include-subdomains", false, "extend the commitment to every subdomain")
	set.Flags().BoolVar(&preload, "preload", false, "add the preload token (needs --max-age 1y or more and --include-subdomains)")
	set.Flags().BoolVar(&on, "on", false, "send the header")
	set.Flags().BoolVar(&off, "off", false, "stop sending it (the settings are kept)")
	set.MarkFlagsMutuallyExclusive("off", "on")
	set.RunE = func(cmd *cobra.Command, args []string) error {
		f := cmd.Flags()
		if !f.Changed("max-age") && !f.Changed("include-subdomains") && !f.Changed("preload") && !off && !on {
			return usageError{fmt.Errorf("nothing to change: give --on, --off, --max-age, --include-subdomains or --preload")}
		}
		var secs int64
		if f.Changed("max-age") {
			var err error
			if secs, err = rampart.ParseHSTSMaxAge(maxAge); err != nil {
				return usageError{fmt.Errorf("--max-age: %s", rampart.ErrorMessage(err))}
			}
		}
		cl, s, err := cf.service(cmd, args[0])
		if err != nil {
			return err
		}
		h := s.HSTS
		if f.Changed("max-age") {
			h.MaxAge = secs
		}
		if f.Changed("include-subdomains") {
			h.IncludeSubDomains = subdomains
		}
		if f.Changed("preload") {
			h.Preload = preload
		}
		switch {
		case on:
			h.Enabled = true
		case off:
			h.Enabled = false
		}
		s, err = cl.UpdateService(cmd.Context(), args[0], rampart.ServiceUpdate{HSTS: &h})
		if err != nil {
			return err
		}
		return output(cmd, s.HSTS, func(w io.Writer) { printHSTS(w, s.Name, s.HSTS) })
	}
	cmd.AddCommand(show, set)
	return cmd
}

func printHSTS(w io.Writer, service string, h rampart.HSTS) {
	if !h.Enabled {
		fmt.Fprintf(w, "HSTS of %s: off; the application's own Strict-Transport-Security, if any, passes through (kept: max-age %d)\n", service, h.MaxAge)
		return
	}
	fmt.Fprintf(w, "HSTS of %s: on; HTTPS responses carry Strict-Transport-Security: %s\n", service, h.Header())
	if h.MaxAge > 0 {
		fmt.Fprintf(w, "Browsers that see it refuse plain HTTP to the host for %s, even after HSTS is turned off here.\n", hstsAge(h.MaxAge))
	}
}

// hstsAge says a max-age in the largest whole unit people use for it.
func hstsAge(secs int64) string {
	const day = 86400
	switch {
	case secs%(365*day) == 0:
		return plural(secs/(365*day), "year")
	case secs%day == 0:
		return plural(secs/day, "day")
	default:
		return plural(secs, "second")
	}
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
