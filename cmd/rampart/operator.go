package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/mailer"
	"github.com/rampart-dev/rampart/internal/server"
	"github.com/rampart-dev/rampart/internal/store"
	_ "github.com/rampart-dev/rampart/internal/store/sqlite" // the default store
)

// Operator commands act on the data directory directly, as the operator at
// the machine's shell: they work before any account exists and while serve
// is running (SQLite lets both write; the server picks the change up).

func dataFlag(cmd *cobra.Command) *string {
	def := os.Getenv("RAMPART_DATA")
	if def == "" {
		def = "/var/lib/rampart"
	}
	p := new(string)
	cmd.Flags().StringVar(p, "data", def, "rampart's data directory (RAMPART_DATA)")
	return p
}

// openApp opens the store in dir, which must already hold one: an operator
// command pointed at the wrong directory (a typo, a missing --data) must
// say so, not create an empty database there and then report that the
// account it looked for does not exist. `rampart serve` creates the data
// directory.
func openApp(ctx context.Context, dir string) (*app.App, func() error, error) {
	if err := checkDataDir(dir); err != nil {
		return nil, nil, err
	}
	db, err := store.Open(ctx, store.DefaultDSN(dir))
	if err != nil {
		return nil, nil, err
	}
	return app.New(db, app.Options{}), db.Close, nil
}

// checkDataDir says what is wrong when dir is not a data directory that
// `rampart serve` has used.
func checkDataDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err):
		return rampart.Errorf(rampart.ENOTFOUND, "data directory %s does not exist: pass --data (or RAMPART_DATA) with the directory `rampart serve` uses (the demo prints it as Data), or start `rampart serve --data %s` once to create it", dir, dir)
	case err != nil:
		return fmt.Errorf("data directory %s: %w", dir, err)
	case !st.IsDir():
		return rampart.Errorf(rampart.EINVALID, "%s is not a directory: pass --data with rampart's data directory", dir)
	}
	db := filepath.Join(dir, "rampart.db")
	if _, err := os.Stat(db); os.IsNotExist(err) {
		return rampart.Errorf(rampart.ENOTFOUND, "%s holds no rampart database (%s): pass --data with the directory `rampart serve` uses, or start `rampart serve --data %s` once to create it", dir, db, dir)
	}
	return nil
}

func newUserCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage accounts: create and reset-mfa on --data (operator), the others through the API (admins)",
		Long: `Manage accounts. Two kinds of commands live here:

  create, reset-mfa     operator commands: they work on the data directory
                        (--data) at the server's shell, even before any
                        account exists
  list, invite, set-role, disable, enable, delete, reset-password
                        network commands for admins: they go through the
                        API (--server and --token, or 'rampart login')`,
	}
	cmd.AddCommand(newUserCreateCmd(), newUserResetMFACmd(),
		newUserListCmd(cf), newUserInviteCmd(cf), newUserSetRoleCmd(cf), newUserDisableCmd(cf, true), newUserDisableCmd(cf, false),
		newUserDeleteCmd(cf), newUserResetPasswordCmd(cf))
	return cmd
}

func newUserResetMFACmd() *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "reset-mfa EMAIL",
		Short: "Reset an account's second factor to email codes, for a user who lost theirs (operator command: works on --data)",
		Long: `Reset the second factor of an account that lost it (a lost phone, no
recovery codes left): its next login asks for a code emailed to the account's
address again. The authenticator app and the recovery codes stop working,
every session of the account ends, and the reset is in the audit log.

The user is emailed about it when the mail server is configured: pass the
server's --config (or RAMPART_CONFIG), or tell them yourself.

Check first that the request comes from the account's owner: whoever
controls the mailbox can then log in with the password alone.`,
		Example: `  rampart user reset-mfa --data /var/lib/rampart ada@example.com
  rampart user reset-mfa --config /etc/rampart/rampart.yaml ada@example.com`,
		Args: exactArgs("EMAIL"),
	}
	data := dataFlag(cmd)
	cmd.Flags().StringVar(&configFile, "config", os.Getenv("RAMPART_CONFIG"), "serve's YAML configuration, for its mail server (RAMPART_CONFIG)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		mail, dir, err := operatorMailer(cmd, configFile, *data)
		if err != nil {
			return err
		}
		if err := checkDataDir(dir); err != nil {
			return err
		}
		db, err := store.Open(cmd.Context(), store.DefaultDSN(dir))
		if err != nil {
			return err
		}
		defer db.Close()
		a := app.New(db, app.Options{Mailer: mail, Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))})
		u, err := a.Accounts.ResetMFA(cmd.Context(), app.OperatorActor(), args[0])
		if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			return rampart.Errorf(rampart.ENOTFOUND, "no user with email %q in %s: `rampart user create` makes one; or pass --data with the directory your server uses", args[0], dir)
		}
		if err != nil {
			return err
		}
		return output(cmd, u, func(w io.Writer) {
			fmt.Fprintf(w, "Reset the second factor of %s: their next login asks for a code emailed to %s.\n", u.Email, u.Email)
			fmt.Fprintln(w, "Their sessions ended and their recovery codes no longer work.")
			if mail == nil {
				fmt.Fprintln(w, "They were not emailed about it (no mail server: pass --config with serve's configuration): tell them yourself.")
			}
		})
	}
	return cmd
}

// operatorMailer returns the mailer of serve's configuration file, nil
// when there is none or it configures no mail server, and the data
// directory: --data when given, else the file's.
func operatorMailer(cmd *cobra.Command, configFile, data string) (mailer.Mailer, string, error) {
	if configFile == "" {
		return nil, data, nil
	}
	cfg := config.Default()
	if err := cfg.LoadFile(configFile); err != nil {
		return nil, "", err
	}
	if err := cfg.LoadEnv(os.Environ()); err != nil {
		return nil, "", err
	}
	if cmd.Flags().Changed("data") || cfg.Data == "" {
		cfg.Data = data
	}
	if cfg.Mail.SMTP.Host == "" {
		return nil, cfg.Data, nil
	}
	m, err := server.NewMailer(cfg, nil)
	return m, cfg.Data, err
}

func newUserCreateCmd() *cobra.Command {
	var (
		email         string
		admin         bool
		passwordStdin bool
	)
	cmd := &cobra.Command{
		Use:   "create --email EMAIL [--admin] [--password-stdin]",
		Short: "Create an account with a password (operator command: works on --data)",
		Long: `Create an account in the data directory. The password is asked for twice on
the terminal, or read from standard input with --password-stdin (first line).
Members see and change only their own services; --admin makes an admin.`,
		Example: `  rampart user create --data /var/lib/rampart --email alice@example.com --admin
  printf '%s\n' "$PASSWORD" | rampart user create --email bob@example.com --password-stdin`,
		Args: exactArgs(),
	}
	data := dataFlag(cmd)
	cmd.Flags().StringVar(&email, "email", "", "the account's email address (required)")
	cmd.Flags().BoolVar(&admin, "admin", false, "make the account an admin")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if email == "" {
			return usageError{fmt.Errorf("--email is required")}
		}
		pw, err := readPassword(cmd, passwordStdin)
		if err != nil {
			return err
		}
		a, closeDB, err := openApp(cmd.Context(), *data)
		if err != nil {
			return err
		}
		defer closeDB()
		role := rampart.RoleMember
		if admin {
			role = rampart.RoleAdmin
		}
		u, err := a.Accounts.Create(cmd.Context(), app.OperatorActor(), rampart.UserInput{Email: email, Password: pw, Role: role})
		if err != nil {
			return err
		}
		return output(cmd, u, func(w io.Writer) {
			fmt.Fprintf(w, "Created %s %s (id %d).\n", u.Role, u.Email, u.ID)
		})
	}
	return cmd
}

func readPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	in := cmd.InOrStdin()
	if fromStdin {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("reading the password from standard input: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", fmt.Errorf("standard input held no password: pipe it in, e.g. printf '%%s\\n' \"$PASSWORD\" | rampart user create … --password-stdin")
		}
		return pw, nil
	}
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageError{fmt.Errorf("no terminal to ask for a password on: pass it on standard input with --password-stdin")}
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(cmd.ErrOrStderr(), prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		return string(b), err
	}
	pw, err := ask("Password: ")
	if err != nil {
		return "", err
	}
	if err := rampart.ValidatePassword(pw); err != nil {
		return "", err
	}
	again, err := ask("Password again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", fmt.Errorf("the two passwords differ: nothing was created, try again")
	}
	return pw, nil
}

func newTokenCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens: create on --data (operator), list and revoke through the API",
		Long: `Manage API tokens. 'create' is an operator command: it works on the data
directory (--data) at the server's shell. 'list' and 'revoke' go through the
API (--server and --token, or 'rampart login'): your own tokens, or anyone's
for admins.`,
	}
	var (
		email string
		name  string
		ttl   time.Duration
	)
	create := &cobra.Command{
		Use:   "create --email EMAIL [--name NAME] [--ttl DURATION]",
		Short: "Create an API token and print it on standard output (operator command: works on --data)",
		Long: `Create an API token for an account and print it on standard output. It is
shown only this once: rampart keeps only its hash. Use it with 'rampart login'
or as RAMPART_TOKEN.`,
		Example: `  export RAMPART_TOKEN=$(rampart token create --data /var/lib/rampart --email alice@example.com)
  rampart token create --email ci@example.com --name ci --ttl 720h`,
		Args: exactArgs(),
	}
	data := dataFlag(create)
	create.Flags().StringVar(&email, "email", "", "the account the token acts as (required)")
	create.Flags().StringVar(&name, "name", "cli", "a label to recognise the token by")
	create.Flags().DurationVar(&ttl, "ttl", 0, "lifetime, e.g. 720h; 0 means it does not expire")
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		if email == "" {
			return usageError{fmt.Errorf("--email is required")}
		}
		a, closeDB, err := openApp(cmd.Context(), *data)
		if err != nil {
			return err
		}
		defer closeDB()
		plain, t, err := a.Accounts.CreateToken(cmd.Context(), app.OperatorActor(), rampart.TokenInput{Email: email, Name: name, TTL: ttl})
		if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			return rampart.Errorf(rampart.ENOTFOUND, "no user with email %q in %s: create it with `rampart user create --data %s --email %s`, or pass --data with the directory your server uses", email, *data, *data, email)
		}
		if err != nil {
			return err
		}
		out := struct {
			Token string `json:"token"`
			*rampart.APIToken
		}{plain, t}
		return output(cmd, out, func(w io.Writer) { fmt.Fprintln(w, plain) })
	}
	cmd.AddCommand(create, newTokenListCmd(cf), newTokenRevokeCmd(cf))
	return cmd
}
