// Command rampart is a self-hosted security layer for web services: one
// binary that runs the edge, the control plane and the dashboard (`rampart
// serve`), and is also the CLI for its REST API.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rampart-dev/rampart"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// A proxy's live heap is small and bounded (cache and limiter tables),
	// so trading a little memory for half the garbage-collection work is
	// the right default; GOGC in the environment still decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit code: 0 on success, 1
// when the command failed, 2 when it was called wrongly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "rampart: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
		return 2
	}
	fmt.Fprintf(stderr, "rampart: %s\n", message(err))
	return 1
}

// message is what the user reads for err: the API's or app's message for a
// rampart error, the full chain otherwise.
func message(err error) string {
	var re *rampart.Error
	if errors.As(err, &re) {
		return re.Message
	}
	return err.Error()
}

// usageError marks a command line that is wrong, as opposed to a command
// that failed; cobra's own flag errors are wrapped into it too.
type usageError struct{ error }

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "rampart",
		Short: "A self-hosted security layer for web services",
		Long: `rampart puts, in front of every service it hosts, what a good managed platform
turns on by default: automatic TLS for custom domains, a per-IP rate limiter
and an output cache; termination protection with a 7-day deletion grace
period and backups, for services it runs itself (a command or docker compose)
or only fronts; a transactional SMTP relay for the services' mail (rampart
mail); and on the server itself, the host firewall (nftables, with
commit-confirm) and the SSH keys in authorized_keys (rampart sshkey). It is
managed from a dashboard behind a password and a second factor (TOTP or an
emailed code), a REST API and this CLI.

Start a complete demo on unprivileged ports:
  rampart serve --demo

Everything except serve, user and token is a client of a running server's
REST API: log in once with 'rampart login', then e.g. 'rampart service list'.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	cf := &clientFlags{}
	cf.register(root)
	root.AddCommand(
		newServeCmd(),
		newUserCmd(cf),
		newTokenCmd(cf),
		newLoginCmd(cf),
		newServiceCmd(cf),
		newBackupCmd(cf),
		newRateLimitCmd(cf),
		newCacheCmd(cf),
		newAuditCmd(cf),
		newDomainCmd(cf),
		newSSLCmd(cf),
		newEnvCmd(cf),
		newSSHKeyCmd(cf),
		newLogsCmd(cf),
		newFirewallCmd(cf),
		newMailCmd(cf),
	)
	requireSubcommand(root)
	return root
}

// exactArgs is cobra.ExactArgs with a message that names what is missing.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			what := "no arguments"
			if len(names) > 0 {
				what = fmt.Sprintf("%d argument(s): %v", len(names), names)
			}
			return usageError{fmt.Errorf("'%s' takes %s, got %d", cmd.CommandPath(), what, len(args))}
		}
		return nil
	}
}
