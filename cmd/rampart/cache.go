package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-dev/rampart"
)

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
