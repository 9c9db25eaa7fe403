package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/client"
)

func newServiceCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "service",
		Aliases: []string{"services", "svc"},
		Short:   "Create, list, show, update, run, protect, delete, restore and transfer services",
	}
	cmd.AddCommand(newServiceCreateCmd(cf), newServiceListCmd(cf), newServiceShowCmd(cf), newServiceUpdateCmd(cf), newServiceProtectCmd(cf), newServiceDeleteCmd(cf),
		newServiceRestoreCmd(cf), newServiceSetVersionCmd(cf), newServicePurgeCmd(cf), newServiceTransferCmd(cf))
	for _, action := range []string{"start", "stop", "kill", "restart", "reset"} {
		cmd.AddCommand(newServiceActionCmd(cf, action))
	}
	return cmd
}

func newServiceCreateCmd(cf *clientFlags) *cobra.Command {
	var in rampart.ServiceInput
	cmd := &cobra.Command{
		Use:   "create NAME (--upstream URL… | --runtime exec|compose …)",
		Short: "Create a service and route <NAME>.<platform domain> to its upstream",
		Long: `Create a service. The edge starts routing <NAME>.<platform domain> to the
upstream at once. NAME is a DNS label: a-z, 0-9 and '-', at most 63 characters.

By default the application runs elsewhere (runtime proxy) and --upstream
says where. An admin can have rampart run it instead: --runtime exec runs
--command (supervised: restarted with backoff when it crashes, its output
in rampart logs), --runtime compose runs a docker compose project from
--compose-file. The edge then proxies to 127.0.0.1:--port.`,
		Example: `  rampart service create blog --upstream http://127.0.0.1:3000
  rampart service create api --runtime exec --command '/opt/api/${VERSION}/server' --version 1.4.2 --port 8081
  rampart service create shop --runtime compose --compose-file docker-compose.yml --version 2.1 --port 8082`,
		Args: exactArgs("NAME"),
	}
	var rt runtimeFlags
	rt.add(cmd)
	cmd.Flags().StringArrayVar(&in.Upstreams, "upstream", nil, "upstream base URL, e.g. http://127.0.0.1:3000 (repeat for several; required)")
	cmd.Flags().StringVar(&in.Owner, "owner", "", "owner's email (admins only; default: you)")
	var allowPrivate bool
	cmd.Flags().BoolVar(&allowPrivate, "allow-private-upstreams", false, allowPrivateHelp+"; default: on when an admin's upstream needs it")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if cmd.Flags().Changed("allow-private-upstreams") {
			in.AllowPrivateUpstreams = &allowPrivate
		}
		if rt.changed(cmd) {
			r, err := rt.runtime(cmd, rampart.Runtime{})
			if err != nil {
				return err
			}
			in.Runtime = r
		}
		if len(in.Upstreams) == 0 && (in.Runtime == nil || !in.Runtime.Runs()) {
			return usageError{fmt.Errorf("--upstream is required, e.g. --upstream http://127.0.0.1:3000 (or have rampart run it: --runtime exec --command … --port …)")}
		}
		cl, err := cf.client()
		if err != nil {
			return err
		}
		in.Name = args[0]
		s, err := cl.CreateService(cmd.Context(), in)
		if err != nil {
			return err
		}
		return output(cmd, s, func(w io.Writer) {
			fmt.Fprintf(w, "Created service %s: %s → %s\n", s.Name, serviceURL(s), strings.Join(s.Upstreams, ", "))
			if s.AllowPrivateUpstreams && in.AllowPrivateUpstreams == nil {
				fmt.Fprintln(w, "Its upstreams are on a network members may not use: private upstreams are allowed for it (--allow-private-upstreams=false refuses them instead).")
			}
		})
	}
	return cmd
}

func newServiceListCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the services you can see (all of them for admins)",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			svcs, err := cl.ListServices(cmd.Context())
			if err != nil {
				return err
			}
			return output(cmd, svcs, func(w io.Writer) {
				if len(svcs) == 0 {
					fmt.Fprintln(w, "No services yet. Create one with: rampart service create NAME --upstream URL")
					return
				}
				rows := make([][]string, 0, len(svcs))
				for _, s := range svcs {
					state := string(s.State)
					if s.State == rampart.StateDeleted && s.PurgeAfter != nil {
						state += " (restorable until " + s.PurgeAfter.Local().Format("2006-01-02 15:04") + ")"
					}
					rows = append(rows, []string{s.Name, state, s.Hostname, strings.Join(s.Upstreams, ","), s.Owner})
				}
				table(w, []string{"NAME", "STATE", "HOSTNAME", "UPSTREAMS", "OWNER"}, rows)
			})
		},
	}
}

func printService(w io.Writer, s *rampart.ServiceView) {
	if s.State == rampart.StateDeleted && s.PurgeAfter != nil {
		fmt.Fprintf(w, "Deleted on %s: restorable until %s with `rampart service restore %s`; purged for good after that.\n\n",
			s.DeletedAt.Local().Format("2006-01-02 15:04"), s.PurgeAfter.Local().Format("2006-01-02 15:04"), s.Name)
	}
	table(w, nil, [][]string{
		{"Name:", s.Name},
		{"State:", string(s.State)},
		{"Status:", statusSummary(s.Status)},
		{"URL:", serviceURL(s)},
		{"Hostname:", s.Hostname + "   (CNAME target for custom domains)"},
		{"Upstreams:", strings.Join(s.Upstreams, ", ")},
		{"Owner:", s.Owner},
		{"Private upstreams:", privateSummary(s)},
		{"Termination protection:", protectionSummary(s)},
		{"Runtime:", runtimeSummary(s)},
		{"Running:", runSummary(s)},
		{"Environment:", envSummary(s)},
		{"Created:", s.CreatedAt.Local().Format(time.RFC3339)},
		{"Updated:", s.UpdatedAt.Local().Format(time.RFC3339)},
	})
}

// serviceURL is where the service answers: the URL the server gives, or,
// from a server older than that field, its hostname on port 80.
func serviceURL(s *rampart.ServiceView) string {
	if s.URL != "" {
		return s.URL
	}
	return rampart.ServiceURL(s.Hostname, 0)
}

// statusSummary says what the reconcilers did with the service's
// configuration.
func statusSummary(st rampart.Status) string {
	if c := st.Failed(); c != nil {
		who := "the " + c.Type + " reconciler"
		if c.Type == rampart.ConditionRouting {
			who = "the edge"
		}
		return "refused by " + who + ", so the service is left out: " + c.Message
	}
	if st.State == rampart.StatusOK {
		return "applied"
	}
	return "pending (the edge has not reported on this configuration yet)"
}

// allowPrivateHelp describes --allow-private-upstreams.
const allowPrivateHelp = "let the upstreams be where members may not point services: loopback, link-local, cloud metadata addresses, networks outside upstreams.allowed_networks (admins only; rampart's own listeners stay refused)"

// privateSummary says whether the service may use upstreams outside the
// operator's networks.
func runtimeSummary(s *rampart.ServiceView) string {
	rt := s.Runtime
	switch rt.Kind {
	case rampart.RuntimeExec:
		cmd := strings.Join(append([]string{rt.Command}, rt.Args...), " ")
		return fmt.Sprintf("exec, version %s: %s (port %d)", orDash(rt.Version), cmd, rt.Port)
	case rampart.RuntimeCompose:
		return fmt.Sprintf("compose, version %s (port %d)", orDash(rt.Version), rt.Port)
	}
	return "proxy (the application runs elsewhere)"
}

// runSummary is what the runtime last saw: "running since …", the crash
// loop, or why it failed.
func runSummary(s *rampart.ServiceView) string {
	r := s.Run
	if !s.Runtime.Runs() {
		return "-"
	}
	if r == nil {
		return "not reported yet"
	}
	since := r.Since.Local().Format("2006-01-02 15:04:05")
	switch r.State {
	case "running":
		if r.PID > 0 {
			return fmt.Sprintf("running since %s (pid %d)", since, r.PID)
		}
		return "running since " + since
	case "crash-looping":
		msg := fmt.Sprintf("crash-looping: %s, %d restarts", r.LastExit, r.Restarts)
		if !r.NextStart.IsZero() {
			msg += ", next try at " + r.NextStart.Local().Format("15:04:05")
		}
		return msg
	case "failed":
		return "failed: " + r.Message
	}
	if r.LastExit != "" {
		return fmt.Sprintf("%s since %s (last exit: %s)", r.State, since, r.LastExit)
	}
	return r.State + " since " + since
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func privateSummary(s *rampart.ServiceView) string {
	if s.AllowPrivateUpstreams {
		return "allowed by an admin (loopback, link-local and other networks members may not use)"
	}
	return "not allowed (only the networks the operator allows)"
}

// protectionSummary says whether the service's termination protection is
// on and what that means.
func protectionSummary(s *rampart.ServiceView) string {
	if s.TerminationProtection {
		return "on (delete is refused; turn it off with: rampart service protect " + s.Name + " off)"
	}
	return "off"
}

// envSummary names a service's environment variables, not their values
// (see `rampart env list` for those).
func envSummary(s *rampart.ServiceView) string {
	if len(s.Env) == 0 {
		return "none"
	}
	return strings.Join(s.Env.Names(), ", ") + "   (values: rampart env list " + s.Name + ")"
}

func newServiceShowCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show one service",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			s, err := cl.GetService(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output(cmd, s, func(w io.Writer) { printService(w, s) })
		},
	}
}

func newServiceUpdateCmd(cf *clientFlags) *cobra.Command {
	var (
		ups   []string
		state string
	)
	cmd := &cobra.Command{
		Use:     "update NAME [--upstream URL…] [--state active|stopped] [--allow-private-upstreams] [runtime flags]",
		Short:   "Change a service's upstreams, state or runtime",
		Example: "  rampart service update blog --upstream http://127.0.0.1:3001\n  rampart service update blog --state stopped\n  rampart service update blog --allow-private-upstreams=false\n  rampart service update shop --compose-file docker-compose.yml",
		Args:    exactArgs("NAME"),
	}
	var rt runtimeFlags
	rt.add(cmd)
	cmd.Flags().StringArrayVar(&ups, "upstream", nil, "new upstream base URL (repeat for several; replaces the list)")
	cmd.Flags().StringVar(&state, "state", "", "active (routed) or stopped (the edge answers 503)")
	var allowPrivate bool
	cmd.Flags().BoolVar(&allowPrivate, "allow-private-upstreams", false, allowPrivateHelp+"; =false turns it off")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var up rampart.ServiceUpdate
		if cmd.Flags().Changed("allow-private-upstreams") {
			up.AllowPrivateUpstreams = &allowPrivate
		}
		if cmd.Flags().Changed("upstream") {
			up.Upstreams = ups
		}
		if state != "" {
			st := rampart.ServiceState(state)
			up.State = &st
		}
		if up.Upstreams == nil && up.State == nil && up.AllowPrivateUpstreams == nil && !rt.changed(cmd) {
			return usageError{fmt.Errorf("nothing to change: give --upstream, --state, --allow-private-upstreams or runtime flags (--runtime, --command, --compose-file, --port…)")}
		}
		cl, err := cf.client()
		if err != nil {
			return err
		}
		if rt.changed(cmd) {
			cur, err := cl.GetService(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if up.Runtime, err = rt.runtime(cmd, cur.Runtime); err != nil {
				return err
			}
		}
		s, err := cl.UpdateService(cmd.Context(), args[0], up)
		if err != nil {
			return err
		}
		return output(cmd, s, func(w io.Writer) { printService(w, s) })
	}
	return cmd
}

func newServiceProtectCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "protect NAME on|off",
		Short: "Turn a service's termination protection on or off",
		Long: `Turn a service's termination protection on or off. While it is on,
rampart refuses to delete, stop, kill, restart, reset or change the
version of the service, whoever asks and however; saving its environment
stays allowed. The owner or an admin can turn it on and off; each change
is in the audit log.`,
		Example: "  rampart service protect blog on\n  rampart service protect blog off",
		Args:    exactArgs("NAME", "on|off"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var on bool
			switch strings.ToLower(args[1]) {
			case "on":
				on = true
			case "off":
			default:
				return usageError{fmt.Errorf("%q is neither on nor off: say rampart service protect %s on, or … off", args[1], args[0])}
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			s, err := cl.SetTerminationProtection(cmd.Context(), args[0], on)
			if err != nil {
				return err
			}
			return output(cmd, s, func(w io.Writer) {
				if s.TerminationProtection {
					fmt.Fprintf(w, "Termination protection is on for %s: it cannot be deleted, stopped, killed, restarted, reset or moved to another version until you turn it off (rampart service protect %s off).\n", s.Name, s.Name)
				} else {
					fmt.Fprintf(w, "Termination protection is off for %s: it can be deleted, stopped, killed, restarted, reset and moved to another version.\n", s.Name)
				}
			})
		},
	}
}

func newServiceDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a service after a final backup; restorable for 7 days (refused while termination protection is on)",
		Long: `Delete a service. rampart takes a final backup of its data and
configuration, stops it, and the edge stops routing it at once. For the
grace period (7 days by default) the service, its name and its domains stay
reserved: rampart service restore NAME brings it back with its data. After
it, the purge removes the service and its backups for good.

Refused while the service's termination protection is on.`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			if err := cl.DeleteService(cmd.Context(), args[0]); err != nil {
				return err
			}
			s, err := cl.GetService(cmd.Context(), args[0])
			if err != nil || s.PurgeAfter == nil {
				return output(cmd, map[string]string{"deleted": args[0]}, func(w io.Writer) {
					fmt.Fprintf(w, "Deleted service %s.\n", args[0])
				})
			}
			return output(cmd, s, func(w io.Writer) {
				fmt.Fprintf(w, "Deleted service %s. Restore it until %s with: rampart service restore %s\n",
					s.Name, s.PurgeAfter.Local().Format("2006-01-02 15:04"), s.Name)
			})
		},
	}
}

func newAuditCmd(cf *clientFlags) *cobra.Command {
	var q client.AuditQuery
	cmd := &cobra.Command{
		Use:   "audit [--service NAME] [--limit N]",
		Short: "Show the audit log: who changed what, when, from where",
		Args:  exactArgs(),
	}
	cmd.Flags().StringVar(&q.Service, "service", "", "only events on this service")
	cmd.Flags().IntVar(&q.Limit, "limit", 50, "how many events, newest first (1-1000)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cl, err := cf.client()
		if err != nil {
			return err
		}
		evs, err := cl.ListAudit(cmd.Context(), q)
		if err != nil {
			return err
		}
		return output(cmd, evs, func(w io.Writer) {
			rows := make([][]string, 0, len(evs.Events))
			for _, e := range evs.Events {
				rows = append(rows, []string{e.At.Local().Format(time.DateTime), e.Actor, e.IP, e.Action, e.Service, e.Detail})
			}
			table(w, []string{"TIME", "ACTOR", "IP", "ACTION", "SERVICE", "DETAIL"}, rows)
		})
	}
	return cmd
}
