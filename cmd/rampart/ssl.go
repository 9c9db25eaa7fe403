package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

func newSSLCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ssl",
		Short: "Troubleshoot certificates",
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
	cmd.AddCommand(reset)
	return cmd
}
