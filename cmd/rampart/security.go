package main

// The commands of the dashboard's Security tab rows that the edge enforces:
// `rampart ratelimit` (Rate Limiter) and `rampart cache` (Output Cache).

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-dev/rampart"
)

func newRateLimitCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ratelimit",
		Short: "Show or change a service's per-IP rate limit",
		Long: `Every service has a per-client-IP rate limit at the edge, on by default:
150 requests per minute. A new client may send the whole amount at once; a
client that keeps within the rate is never limited. Over the limit it gets
429 Too Many Requests with a Retry-After that is true. IPv6 clients are
grouped by /64.`,
	}
	show := &cobra.Command{
		Use:   "show SERVICE",
		Short: "Show a service's rate limit",
		Args:  exactArgs("SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, s, err := cf.service(cmd, args[0])
			if err != nil {
				return err
			}
			return output(cmd, s.RateLimit, func(w io.Writer) { printRateLimit(w, s.Name, s.RateLimit) })
		},
	}
	var (
		requests int
		per      string
		allow    []string
		off, on  bool
	)
	set := &cobra.Command{
		Use:   "set SERVICE [--requests N] [--per second|minute] [--allow CIDR…] [--off | --on]",
		Short: "Change a service's rate limit; it applies at once, no restart",
		Example: `  rampart ratelimit set blog --requests 300 --per minute
  rampart ratelimit set blog --allow 203.0.113.0/24 --allow 2001:db8::/48
  rampart ratelimit set blog --off`,
		Args: exactArgs("SERVICE"),
	}
	set.Flags().IntVar(&requests, "requests", 0, "requests allowed per period (and the burst a new client may send)")
	set.Flags().StringVar(&per, "per", "", "the period: second or minute")
	set.Flags().StringArrayVar(&allow, "allow", nil, "client network never limited, e.g. 203.0.113.0/24 (repeat; replaces the list; --allow '' clears it)")
	set.Flags().BoolVar(&off, "off", false, "turn the rate limiter off (the settings are kept)")
	set.Flags().BoolVar(&on, "on", false, "turn the rate limiter on again")
	set.MarkFlagsMutuallyExclusive("off", "on")
	set.RunE = func(cmd *cobra.Command, args []string) error {
		f := cmd.Flags()
		if !f.Changed("requests") && !f.Changed("per") && !f.Changed("allow") && !off && !on {
			return usageError{fmt.Errorf("nothing to change: give --requests, --per, --allow, --off or --on")}
		}
		cl, s, err := cf.service(cmd, args[0])
		if err != nil {
			return err
		}
		rl := s.RateLimit
		if f.Changed("requests") {
			rl.Requests = requests
		}
		if f.Changed("per") {
			rl.Per = per
		}
		if f.Changed("allow") {
			rl.Allow = []string{}
			for _, a := range allow {
				if a = strings.TrimSpace(a); a != "" {
					rl.Allow = append(rl.Allow, a)
				}
			}
		}
		switch {
		case off:
			rl.Enabled = false
		case on || f.Changed("requests") || f.Changed("per"):
			rl.Enabled = true
		}
		s, err = cl.UpdateService(cmd.Context(), args[0], rampart.ServiceUpdate{RateLimit: &rl})
		if err != nil {
			return err
		}
		return output(cmd, s.RateLimit, func(w io.Writer) { printRateLimit(w, s.Name, s.RateLimit) })
	}
	cmd.AddCommand(show, set)
	return cmd
}

func printRateLimit(w io.Writer, service string, rl rampart.RateLimit) {
	if !rl.Enabled {
		fmt.Fprintf(w, "Rate limit of %s: off (kept: %d requests per %s)\n", service, rl.Requests, rl.Per)
		return
	}
	fmt.Fprintf(w, "Rate limit of %s: %d requests per %s per client IP (IPv6 by /64)\n", service, rl.Requests, rl.Per)
	if len(rl.Allow) > 0 {
		fmt.Fprintf(w, "Never limited:   %s\n", strings.Join(rl.Allow, ", "))
	}
}

func newCacheCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Show, change or purge a service's output cache",
		Long: `Every service has an output cache at the edge, on by default: GET and HEAD
responses are served from it for 3 seconds, so a flood of identical requests
reaches the app about once per 3 seconds per URL. Requests with a Cookie or
Authorization header and responses with Set-Cookie or Cache-Control
private/no-store/no-cache are never cached.`,
	}
	show := &cobra.Command{
		Use:   "show SERVICE",
		Short: "Show a service's cache settings",
		Args:  exactArgs("SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, s, err := cf.service(cmd, args[0])
			if err != nil {
				return err
			}
			return output(cmd, s.Cache, func(w io.Writer) { printCache(w, s.Name, s.Cache) })
		},
	}
	var (
		ttl, stale time.Duration
		off, on    bool
	)
	set := &cobra.Command{
		Use:   "set SERVICE [--ttl DURATION] [--stale-if-error DURATION] [--off | --on]",
		Short: "Change a service's cache; it applies at once, no restart",
		Long: `Change a service's output cache; it applies at once, no restart.

A response that sends Cache-Control: stale-while-revalidate=N is served
stale for up to N seconds after it expires while rampart refreshes it in
the background; N is capped at the longest of --ttl, --stale-if-error and
the response's own stale-if-error. A response that sends
stale-if-error=N is served stale on errors for up to N seconds (at most
24h) when that is longer than --stale-if-error; with --stale-if-error 0s,
nothing is served stale.`,
		Example: `  rampart cache set blog --ttl 10s
  rampart cache set blog --stale-if-error 5m
  rampart cache set blog --off`,
		Args: exactArgs("SERVICE"),
	}
	set.Flags().DurationVar(&ttl, "ttl", 0, "how long responses are served from the cache (1s to 1h)")
	set.Flags().DurationVar(&stale, "stale-if-error", 0, "how long past the TTL a cached copy may be served while the upstream fails (0s to 24h)")
	set.Flags().BoolVar(&off, "off", false, "turn the cache off (the settings are kept)")
	set.Flags().BoolVar(&on, "on", false, "turn the cache on again")
	set.MarkFlagsMutuallyExclusive("off", "on")
	set.RunE = func(cmd *cobra.Command, args []string) error {
		f := cmd.Flags()
		if !f.Changed("ttl") && !f.Changed("stale-if-error") && !off && !on {
			return usageError{fmt.Errorf("nothing to change: give --ttl, --stale-if-error, --off or --on")}
		}
		cl, s, err := cf.service(cmd, args[0])
		if err != nil {
			return err
		}
		c := s.Cache
		if f.Changed("ttl") {
			c.TTL = rampart.Duration(ttl)
		}
		if f.Changed("stale-if-error") {
			c.StaleIfError = rampart.Duration(stale)
		}
		switch {
		case off:
			c.Enabled = false
		case on || f.Changed("ttl"):
			c.Enabled = true
		}
		s, err = cl.UpdateService(cmd.Context(), args[0], rampart.ServiceUpdate{Cache: &c})
		if err != nil {
			return err
		}
		return output(cmd, s.Cache, func(w io.Writer) { printCache(w, s.Name, s.Cache) })
	}
	purge := &cobra.Command{
		Use:   "purge SERVICE",
		Short: "Drop every cached response of a service at once",
		Args:  exactArgs("SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			n, err := cl.PurgeCache(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output(cmd, map[string]int{"purged": n}, func(w io.Writer) {
				fmt.Fprintf(w, "Purged %d cached response(s) of %s.\n", n, args[0])
			})
		},
	}
	cmd.AddCommand(show, set, purge)
	return cmd
}

func printCache(w io.Writer, service string, c rampart.Cache) {
	if !c.Enabled {
		fmt.Fprintf(w, "Output cache of %s: off (kept: ttl %s)\n", service, time.Duration(c.TTL))
		return
	}
	fmt.Fprintf(w, "Output cache of %s: GET/HEAD responses cached for %s; stale copies served up to %s while the upstream fails\n",
		service, time.Duration(c.TTL), time.Duration(c.StaleIfError))
}
