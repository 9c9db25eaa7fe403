package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-dev/rampart"
)

func newDomainCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "domain",
		Short: "Manage a service's custom domains and their certificates",
		Long: `A service answers on its own hostname (<service>.<platform domain>) and on the
custom domains on its list. Point a custom domain at the service with a CNAME
to that hostname (recommended), or, for a bare domain (example.com), with
A/AAAA records to the node's public addresses. On a node with more than one
account an address says nothing about whose name it is, so A/AAAA records
must come with a TXT record _rampart-challenge.<domain> holding the
service's token (see rampart domain show); with a single account they are
enough alone.

A domain is routed, and with TLS mode managed (the default) certified, only
once DNS proves it belongs to the service; it then stays proven while it is
on the service, so a later DNS outage does not take a live site down.

States: waiting_for_dns (the reason names the record to add) → issuing →
active, or error with the reason.`,
	}
	cmd.AddCommand(newDomainAddCmd(cf), newDomainListCmd(cf), newDomainShowCmd(cf), newDomainUpdateCmd(cf), newDomainRemoveCmd(cf), newDomainCheckCmd(cf))
	return cmd
}

func newDomainAddCmd(cf *clientFlags) *cobra.Command {
	var mode, certFile, keyFile string
	cmd := &cobra.Command{
		Use:   "add SERVICE DOMAIN [--tls managed|custom|off]",
		Short: "Add a custom domain to a service",
		Example: `  rampart domain add shop shop.example.com
  rampart domain add shop bücher.example
  rampart domain add shop origin.example.com --tls custom --cert origin.pem --key origin.key
  rampart domain add shop behind-proxy.example.com --tls off`,
		Args: exactArgs("SERVICE", "DOMAIN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := rampart.DomainInput{Name: args[1], TLSMode: rampart.TLSMode(mode)}
			var err error
			if in.TLSMode, in.CertPEM, in.KeyPEM, err = readUpload(in.TLSMode, certFile, keyFile); err != nil {
				return err
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			d, err := cl.AddDomain(cmd.Context(), args[0], in)
			if err != nil {
				return err
			}
			return output(cmd, d, func(w io.Writer) {
				fmt.Fprintf(w, "Added %s to %s (TLS %s, %s).\n", displayName(d), d.Service, d.TLSMode, d.State)
				if d.State == rampart.DomainWaitingForDNS {
					fmt.Fprintf(w, "It is served once DNS proves it is this service's: add the records that `rampart domain show %s %s` lists, then watch: rampart domain list %s\n", d.Service, d.Name, d.Service)
				}
			})
		},
	}
	cmd.Flags().StringVar(&mode, "tls", "", "TLS mode: managed (certificate from the ACME CA; the default), custom (--cert/--key) or off")
	cmd.Flags().StringVar(&certFile, "cert", "", "TLS mode custom: PEM file with the certificate chain, leaf first")
	cmd.Flags().StringVar(&keyFile, "key", "", "TLS mode custom: PEM file with the private key")
	return cmd
}

// readUpload reads the --cert and --key files of TLS mode custom; with
// them and no --tls, the mode is custom.
func readUpload(mode rampart.TLSMode, certFile, keyFile string) (rampart.TLSMode, string, string, error) {
	if (certFile != "") != (keyFile != "") {
		return "", "", "", usageError{fmt.Errorf("give both --cert and --key, or neither")}
	}
	if certFile == "" {
		return mode, "", "", nil
	}
	if mode == "" {
		mode = rampart.TLSCustom
	}
	c, err := os.ReadFile(certFile)
	if err != nil {
		return "", "", "", fmt.Errorf("read the certificate: %w", err)
	}
	k, err := os.ReadFile(keyFile)
	if err != nil {
		return "", "", "", fmt.Errorf("read the key: %w", err)
	}
	return mode, string(c), string(k), nil
}

func newDomainUpdateCmd(cf *clientFlags) *cobra.Command {
	var mode, certFile, keyFile string
	cmd := &cobra.Command{
		Use:   "update SERVICE DOMAIN --tls managed|custom|off [--cert FILE --key FILE]",
		Short: "Change a domain's TLS mode, or replace its uploaded certificate",
		Long: `Switch a domain between managed (certificate from the ACME CA), custom (your
own certificate and key, e.g. a Cloudflare origin certificate) and off (rampart
never requests a certificate for it, e.g. when TLS ends at a proxy in front).
The domain starts over from the new mode's first state; a certificate that
works keeps being served until its replacement is ready.`,
		Example: `  rampart domain update shop shop.example.com --tls off
  rampart domain update shop shop.example.com --cert origin.pem --key origin.key
  rampart domain update shop shop.example.com --tls managed`,
		Args: exactArgs("SERVICE", "DOMAIN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			up := rampart.DomainUpdate{TLSMode: rampart.TLSMode(mode)}
			var err error
			if up.TLSMode, up.CertPEM, up.KeyPEM, err = readUpload(up.TLSMode, certFile, keyFile); err != nil {
				return err
			}
			if up.TLSMode == "" {
				return usageError{fmt.Errorf("nothing to change: give --tls managed|custom|off, or --cert and --key")}
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			d, err := cl.UpdateDomain(cmd.Context(), args[0], args[1], up)
			if err != nil {
				return err
			}
			return output(cmd, d, func(w io.Writer) {
				fmt.Fprintf(w, "%s of %s: TLS %s, %s.\n", displayName(d), d.Service, d.TLSMode, d.State)
			})
		},
	}
	cmd.Flags().StringVar(&mode, "tls", "", "TLS mode: managed, custom (with --cert/--key) or off")
	cmd.Flags().StringVar(&certFile, "cert", "", "TLS mode custom: PEM file with the certificate chain, leaf first")
	cmd.Flags().StringVar(&keyFile, "key", "", "TLS mode custom: PEM file with the private key")
	return cmd
}

func displayName(d *rampart.Domain) string {
	if d.Display != "" {
		return d.Name + " (" + d.Display + ")"
	}
	return d.Name
}

func newDomainListCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "list SERVICE",
		Aliases: []string{"ls"},
		Short:   "List a service's custom domains with their state",
		Args:    exactArgs("SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			list, err := cl.ListDomains(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output(cmd, list, func(w io.Writer) {
				if len(list) == 0 {
					fmt.Fprintf(w, "No custom domains yet. Add one with: rampart domain add %s shop.example.com\n", args[0])
					return
				}
				rows := make([][]string, 0, len(list))
				for _, d := range list {
					rows = append(rows, []string{displayName(d), string(d.TLSMode), string(d.State), d.Reason})
				}
				table(w, []string{"DOMAIN", "TLS", "STATE", "REASON"}, rows)
			})
		},
	}
}

func newDomainShowCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show SERVICE DOMAIN",
		Short: "Show a domain's state and the DNS records that prove it is the service's",
		Example: `  rampart domain show shop shop.example.com
  rampart domain show shop shop.example.com -o json`,
		Args: exactArgs("SERVICE", "DOMAIN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			d, err := cl.GetDomain(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			// The CNAME target is the service's hostname; without it the
			// TXT record is still the whole answer, so a failure here is
			// not one.
			target := ""
			if svc, err := cl.GetService(cmd.Context(), d.Service); err == nil {
				target = svc.Hostname
			}
			return output(cmd, d, func(w io.Writer) { printDomain(w, d, target) })
		},
	}
}

// printDomain shows one domain and the records that prove it, as `domain
// show` prints them.
func printDomain(w io.Writer, d *rampart.Domain, cnameTarget string) {
	fmt.Fprintf(w, "%s of %s: TLS %s, %s.\n", displayName(d), d.Service, d.TLSMode, d.State)
	if d.Reason != "" {
		fmt.Fprintf(w, "Reason: %s\n", d.Reason)
	}
	if d.VerifiedAt != nil {
		fmt.Fprintf(w, "Proven to be %s's since %s: DNS changes no longer hold it back.\n", d.Service, d.VerifiedAt.UTC().Format("2006-01-02 15:04 UTC"))
		return
	}
	fmt.Fprintf(w, "\nNot served until DNS proves the name is %s's. Add one of:\n", d.Service)
	rows := [][]string{}
	if cnameTarget != "" {
		rows = append(rows, []string{"1.", d.Name, "CNAME", cnameTarget})
	} else {
		rows = append(rows, []string{"1.", d.Name, "CNAME", "the service's hostname (rampart service show " + d.Service + ")"})
	}
	rows = append(rows,
		[]string{"2.", d.Name, "A/AAAA", "the node's public addresses (for a bare domain, which cannot have a CNAME)"},
		[]string{"", d.Challenge.Name, "TXT", strconv.Quote(d.Challenge.Value)})
	table(w, []string{"", "NAME", "TYPE", "VALUE"}, rows)
	fmt.Fprintln(w, "\nThe TXT record is needed with A/AAAA records when the node has more than one account.")
}

func newDomainRemoveCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "remove SERVICE DOMAIN",
		Aliases: []string{"rm"},
		Short:   "Remove a custom domain; the edge stops serving it at once",
		Args:    exactArgs("SERVICE", "DOMAIN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			if err := cl.RemoveDomain(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			return output(cmd, map[string]string{"removed": args[1]}, func(w io.Writer) {
				fmt.Fprintf(w, "Removed %s from %s.\n", args[1], args[0])
			})
		},
	}
}

func newDomainCheckCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "check SERVICE DOMAIN",
		Short: "Ask every configured resolver now where a domain points",
		Args:  exactArgs("SERVICE", "DOMAIN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			c, err := cl.CheckDomain(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return output(cmd, c, func(w io.Writer) { printDomainCheck(w, c) })
		},
	}
}

func printDomainCheck(w io.Writer, c *rampart.DomainCheck) {
	rows := make([][]string, 0, len(c.Resolvers))
	for _, r := range c.Resolvers {
		var sees []string
		if len(r.CNAME) > 0 {
			sees = append(sees, "CNAME "+strings.Join(r.CNAME, " → "))
		}
		if len(r.A) > 0 {
			sees = append(sees, "A "+strings.Join(r.A, ","))
		}
		if len(r.AAAA) > 0 {
			sees = append(sees, "AAAA "+strings.Join(r.AAAA, ","))
		}
		if r.AError != "" {
			sees = append(sees, "A: no answer: "+r.AError)
		}
		if r.AAAAError != "" {
			sees = append(sees, "AAAA: no answer: "+r.AAAAError)
		}
		for _, v := range r.TXT {
			sees = append(sees, "TXT "+strconv.Quote(v))
		}
		if r.TXTError != "" {
			sees = append(sees, "TXT: no answer: "+r.TXTError)
		}
		if r.Error != "" {
			sees = append(sees, "no answer: "+r.Error)
		}
		if len(sees) == 0 {
			sees = append(sees, "no records")
		}
		here := "no"
		if r.PointsHere {
			here = "yes"
		}
		rows = append(rows, []string{r.Resolver, strings.Join(sees, "; "), here})
	}
	table(w, []string{"RESOLVER", "SEES", "PROVES IT"}, rows)
	if c.PointsHere {
		fmt.Fprintf(w, "\nDNS proves %s is %s's.", c.Domain.Name, c.Domain.Service)
		if c.Domain.State != rampart.DomainActive {
			fmt.Fprintf(w, " State: %s.", c.Domain.State)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "\nDNS does not prove yet that %s is %s's: %s\n", c.Domain.Name, c.Domain.Service, c.Reason)
	}
}
