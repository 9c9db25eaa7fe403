package main

import (
	"fmt"
	"io"
	"strings"

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
