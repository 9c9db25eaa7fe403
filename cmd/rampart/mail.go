package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-dev/rampart"
)

func newMailCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mail",
		Short: "Send mail from services through rampart's SMTP relay: logins, quotas, the log",
		Long: `Every service can send transactional mail (sign-up confirmations, password
resets, receipts) through rampart's SMTP relay, which listens on the private
network only. A service sends as SERVICE@<mail.domain>, with its own SMTP
login ('rampart mail credentials SERVICE'), up to its quota of recipients per
hour (300 unless an admin sets another). Bulk and marketing mail is refused;
repeated violations suspend the service's mail until an admin resumes it.

Owners see their services' mail settings and log and get their login; quotas,
suspensions and the DNS records of the mail domain are for admins. The relay
is on when the server's configuration sets mail.domain.`,
	}
	cmd.AddCommand(newMailShowCmd(cf), newMailCredentialsCmd(cf), newMailLogCmd(cf),
		newMailSuspendCmd(cf), newMailResumeCmd(cf), newMailQuotaCmd(cf), newMailDNSCmd(cf), newMailFlushCmd(cf))
	return cmd
}

func newMailShowCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show SERVICE",
		Short: "Show a service's sender address, SMTP login, quota and standing",
		Example: `  rampart mail show blog
  rampart mail show blog -o json`,
		Args: exactArgs("SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			st, err := cl.MailSettings(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output(cmd, st, func(w io.Writer) { printMailSettings(w, st) })
		},
	}
}

func printMailSettings(w io.Writer, st *rampart.MailSettings) {
	rows := [][]string{}
	if !st.Enabled {
		rows = append(rows, []string{"Relay:", "off on this server (an admin sets mail.domain in the configuration)"})
	} else {
		rows = append(rows, []string{"Relay:", fmt.Sprintf("%s port %d", st.Host, st.Port)})
	}
	if st.Address != "" {
		rows = append(rows, []string{"Sender:", st.Address})
	}
	if st.CredentialsSetAt != nil {
		rows = append(rows, []string{"Login:", fmt.Sprintf("%s (password set %s)", st.Username, st.CredentialsSetAt.UTC().Format(time.DateTime+" UTC"))})
	} else {
		rows = append(rows, []string{"Login:", "none yet: rampart mail credentials " + st.Service})
	}
	quota := fmt.Sprintf("%d recipients per hour", st.PerHour)
	if st.PerHourDefault {
		quota += " (the default)"
	}
	rows = append(rows, []string{"Quota:", quota})
	if st.Enabled {
		used := fmt.Sprintf("%d in the last hour", st.Used)
		if st.ResumesAt != nil {
			used += ", at the limit until " + st.ResumesAt.UTC().Format(time.DateTime+" UTC")
		}
		rows = append(rows, []string{"Used:", used})
	}
	if st.Suspended {
		s := "SUSPENDED: " + printable(st.SuspendedReason)
		if st.SuspendedAt != nil {
			s += " (since " + st.SuspendedAt.UTC().Format(time.DateTime+" UTC") + "; an admin lifts it with: rampart mail resume " + st.Service + ")"
		}
		rows = append(rows, []string{"Mail:", s})
	}
	rows = append(rows, []string{"Violations:", fmt.Sprintf("%d in the last 24 hours", st.Violations24h)})
	table(w, nil, rows)
}

func newMailCredentialsCmd(cf *clientFlags) *cobra.Command {
	var rotate bool
	cmd := &cobra.Command{
		Use:   "credentials SERVICE [--rotate]",
		Short: "Get the service's SMTP login; the password is shown once, when it is made",
		Long: `Prints what to put in the service's SMTP settings: host, port, user name and
password. The password is made the first time and shown only then; rampart
keeps only its hash. Lost it? --rotate makes a new one, and the old one stops
working.`,
		Example: `  rampart mail credentials blog
  rampart mail credentials blog --rotate
  rampart mail credentials blog -o json | jq -r .password`,
		Args: exactArgs("SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			creds, err := cl.MailCredentials(cmd.Context(), args[0], rotate)
			if err != nil {
				return err
			}
			return output(cmd, creds, func(w io.Writer) {
				host, port := creds.Host, "-"
				if host == "" {
					host = "- (the relay does not run on this server now)"
				}
				if creds.Port != 0 {
					port = strconv.Itoa(creds.Port)
				}
				rows := [][]string{{"Host:", host}, {"Port:", port + " (STARTTLS)"}, {"Username:", creds.Username}}
				if creds.Password != "" {
					rows = append(rows, []string{"Password:", creds.Password})
				} else {
					rows = append(rows, []string{"Password:", "(set earlier; not shown again — make a new one with --rotate)"})
				}
				fmt.Fprintln(w, "Put these in the SMTP settings of "+args[0]+":")
				table(w, nil, rows)
				if creds.Password != "" {
					fmt.Fprintln(w, "\nStore the password now: it will not be shown again.")
				}
			})
		},
	}
	cmd.Flags().BoolVar(&rotate, "rotate", false, "make a new password; the old one stops working")
	return cmd
}

// mailFollowEvery is how often `mail log -f` asks for new messages.
var mailFollowEvery = time.Second

func newMailLogCmd(cf *clientFlags) *cobra.Command {
	var (
		follow bool
		n      int
	)
	cmd := &cobra.Command{
		Use:   "log SERVICE [-n N] [-f]",
		Short: "Show the service's mail log: time, status, recipients, size, reason; -f follows",
		Long: `Shows the newest messages the relay took from the service, or refused,
oldest first: when, the status (queued, sent, deferred, bounced, refused),
the recipients, the size and why it was refused, deferred or bounced. With
-f, keeps printing new messages (and nothing else) until Ctrl+C. A service
keeps its last 1000 messages, none older than 30 days; bodies and subjects
are never kept.`,
		Example: `  rampart mail log blog
  rampart mail log blog -n 200
  rampart mail log blog -f -o json | jq -c 'select(.status != "sent")'`,
		Args: exactArgs("SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 1 || n > 500 {
				return usageError{fmt.Errorf("-n %d is out of range: give 1 to 500 messages", n)}
			}
			format, _ := cmd.Flags().GetString("output")
			if format != "" && format != "text" && format != "json" {
				return usageError{fmt.Errorf("-o %q is unknown: use text or json", format)}
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			var after int64
			limit := n
			for first := true; ; first = false {
				list, err := cl.MailLog(ctx, args[0], after, limit)
				if err != nil {
					if follow && ctx.Err() != nil {
						return nil // Ctrl+C: the way to stop -f
					}
					return err
				}
				if first && len(list) == 0 && format != "json" && !follow {
					fmt.Fprintf(out, "No mail from %s yet.\n", args[0])
				}
				for _, m := range list {
					if format == "json" {
						if err := enc.Encode(m); err != nil {
							return err
						}
					} else {
						printMailLine(out, m)
					}
					after = m.ID
				}
				if !follow {
					return nil
				}
				if len(list) == limit {
					continue // more are waiting: no pause
				}
				limit = 500
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(mailFollowEvery):
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new messages until Ctrl+C")
	cmd.Flags().IntVarP(&n, "lines", "n", 50, "how many of the newest messages to show first (1 to 500)")
	return cmd
}

// printMailLine prints one message. Addresses and replies come from
// outside (the service, the receiving servers), so they go through
// printable: a crafted reply must not drive the terminal.
func printMailLine(w io.Writer, m *rampart.MailMessage) {
	rcpts := make([]string, 0, len(m.Recipients))
	for i, r := range m.Recipients {
		if i == 3 {
			rcpts = append(rcpts, fmt.Sprintf("+%d more", len(m.Recipients)-3))
			break
		}
		rcpts = append(rcpts, printable(r.Addr))
	}
	to := strings.Join(rcpts, ", ")
	if to == "" {
		to = "-"
	}
	line := fmt.Sprintf("%s  %-8s  %-40s  %8s", m.At.UTC().Format(time.DateTime), m.Status, to, humanBytes(m.Size))
	if m.Reason != "" {
		line += "  " + printable(m.Reason)
	}
	fmt.Fprintln(w, line)
}

func newMailSuspendCmd(cf *clientFlags) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "suspend SERVICE [--reason TEXT]",
		Short: "Stop a service's mail until an admin resumes it (admins only)",
		Long: `The relay refuses the service's mail from now on, with a message that says
it is suspended. The reason is shown to the owner. Works while the relay is
off too: the suspension is stored and applies when it starts.`,
		Example: `  rampart mail suspend blog --reason "spam complaints from example.org"`,
		Args:    exactArgs("SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			st, err := cl.SuspendMail(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			return output(cmd, st, func(w io.Writer) {
				fmt.Fprintf(w, "Mail of %s is suspended: %s\nLift it with: rampart mail resume %s\n", args[0], printable(st.SuspendedReason), args[0])
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, in one line; the owner sees it")
	return cmd
}

func newMailResumeCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "resume SERVICE",
		Short:   "Lift a service's mail suspension and forget its violations (admins only)",
		Example: `  rampart mail resume blog`,
		Args:    exactArgs("SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			st, err := cl.ResumeMail(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output(cmd, st, func(w io.Writer) {
				fmt.Fprintf(w, "Mail of %s is resumed.\n", args[0])
			})
		},
	}
}

func newMailQuotaCmd(cf *clientFlags) *cobra.Command {
	perHour := -1
	cmd := &cobra.Command{
		Use:   "quota SERVICE --per-hour N",
		Short: "Set how many recipients per hour a service may send (admins only)",
		Long: fmt.Sprintf(`Sets the service's quota in recipients per sliding hour, %d to %d;
0 returns to the default (%d). Over it, the relay answers with a temporary
failure that says when sending can resume, so well-behaved senders retry.`, rampart.MinMailPerHour, rampart.MaxMailPerHour, rampart.DefaultMailPerHour),
		Example: `  rampart mail quota blog --per-hour 1000
  rampart mail quota blog --per-hour 0`,
		Args: exactArgs("SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("per-hour") {
				return usageError{fmt.Errorf("give the quota with --per-hour N (0: the default)")}
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			st, err := cl.SetMailQuota(cmd.Context(), args[0], perHour)
			if err != nil {
				return err
			}
			return output(cmd, st, func(w io.Writer) {
				suffix := ""
				if st.PerHourDefault {
					suffix = " (the default)"
				}
				fmt.Fprintf(w, "%s may send to %d recipients per hour%s.\n", args[0], st.PerHour, suffix)
			})
		},
	}
	cmd.Flags().IntVar(&perHour, "per-hour", -1, "recipients per hour; 0 returns to the default")
	return cmd
}

func newMailDNSCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "dns",
		Short: "Show the DNS records the mail domain needs (DKIM, SPF) and whether they are published (admins only)",
		Long: `Receivers trust mail from the relay when the mail domain publishes its DKIM
key and an SPF record naming this server. This looks each record up now and
says what to publish where it is missing or different.`,
		Example: `  rampart mail dns
  rampart mail dns -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			recs, err := cl.MailDNS(cmd.Context())
			if err != nil {
				return err
			}
			return output(cmd, recs, func(w io.Writer) {
				if len(recs) == 0 {
					fmt.Fprintln(w, "The relay names no DNS records.")
					return
				}
				for i, r := range recs {
					if i > 0 {
						fmt.Fprintln(w)
					}
					state := "published"
					switch {
					case r.Error != "":
						state = "lookup failed: " + printable(r.Error)
					case !r.Published:
						state = "NOT published: add it at your DNS provider"
					}
					table(w, nil, [][]string{
						{strings.ToUpper(r.Purpose) + ":", state},
						{"Name:", r.Name},
						{"Type:", r.Type},
						{"Value:", r.Value},
					})
					for _, f := range r.Found {
						fmt.Fprintf(w, "  found now: %s\n", printable(f))
					}
				}
			})
		},
	}
}

func newMailFlushCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "flush",
		Short: "Retry every deferred message now, e.g. once a receiver is back (admins only)",
		Long: `A message a receiver deferred (4xx) waits for its next retry, from a minute
to an hour apart. flush tries every waiting message again at once, as
postqueue -f does, and prints how many messages are still in the queue.`,
		Example: `  rampart mail flush`,
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			q, err := cl.MailFlush(cmd.Context())
			if err != nil {
				return err
			}
			return output(cmd, q, func(w io.Writer) {
				if q.Depth == 0 {
					fmt.Fprintln(w, "The queue is empty.")
					return
				}
				oldest := ""
				if q.Oldest != nil {
					oldest = ", the oldest accepted " + q.Oldest.Local().Format(time.DateTime)
				}
				fmt.Fprintf(w, "Retrying now: %d message(s) in the queue%s.\n", q.Depth, oldest)
			})
		},
	}
}
