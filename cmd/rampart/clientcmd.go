package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/client"
)

// clientFlags are the global flags of the API-client commands. Values come
// from, in rising precedence: the file `rampart login` wrote, RAMPART_SERVER
// and RAMPART_TOKEN, and the flags.
type clientFlags struct {
	server, token string
}

func (f *clientFlags) register(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&f.server, "server", "", "URL of the rampart server's admin address (RAMPART_SERVER; default from 'rampart login')")
	pf.StringVar(&f.token, "token", "", "API token (RAMPART_TOKEN; default from 'rampart login')")
	pf.StringP("output", "o", "text", "output format: text or json")
}

// cliConfig is what `rampart login` stores.
type cliConfig struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

// cliConfigPath is $RAMPART_CLI_CONFIG, else $XDG_CONFIG_HOME/rampart/cli.json
// (~/.config/rampart/cli.json).
func cliConfigPath() (string, error) {
	if p := os.Getenv("RAMPART_CLI_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the CLI configuration directory: %w (set RAMPART_CLI_CONFIG)", err)
	}
	return filepath.Join(dir, "rampart", "cli.json"), nil
}

func loadCLIConfig() (cliConfig, error) {
	var c cliConfig
	p, err := cliConfigPath()
	if err != nil {
		return c, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	} else if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s is not valid JSON (%v): run 'rampart login' again", p, err)
	}
	return c, nil
}

func (f *clientFlags) resolve() (cliConfig, error) {
	c, err := loadCLIConfig()
	if err != nil {
		return c, err
	}
	if v := os.Getenv("RAMPART_SERVER"); v != "" {
		c.Server = v
	}
	if v := os.Getenv("RAMPART_TOKEN"); v != "" {
		c.Token = v
	}
	if f.server != "" {
		c.Server = f.server
	}
	if f.token != "" {
		c.Token = f.token
	}
	return c, nil
}

// client returns an API client from the resolved flags.
func (f *clientFlags) client() (*client.Client, error) {
	c, err := f.resolve()
	if err != nil {
		return nil, err
	}
	if c.Server == "" {
		return nil, usageError{errors.New("no server given: run 'rampart login --server URL', or pass --server / RAMPART_SERVER")}
	}
	if c.Token == "" {
		return nil, usageError{errors.New("no API token given: run 'rampart login', or pass --token / RAMPART_TOKEN (create one with 'rampart token create')")}
	}
	return client.New(c.Server, c.Token)
}

// service returns an API client and the named service, for commands that
// read a service's settings before showing or changing them.
func (f *clientFlags) service(cmd *cobra.Command, name string) (*client.Client, *rampart.ServiceView, error) {
	cl, err := f.client()
	if err != nil {
		return nil, nil, err
	}
	s, err := cl.GetService(cmd.Context(), name)
	if err != nil {
		return nil, nil, err
	}
	return cl, s, nil
}

func newLoginCmd(cf *clientFlags) *cobra.Command {
	var (
		tokenStdin    bool
		email         string
		passwordStdin bool
		tokenName     string
	)
	cmd := &cobra.Command{
		Use:   "login --server URL (--email EMAIL | --token TOKEN | --token-stdin)",
		Short: "Log in to a server and remember it",
		Long: `Log in and store the server URL and an API token in
~/.config/rampart/cli.json (mode 0600), so later commands need neither flag.

With --email, asks for the password and then for the second factor: the code
emailed to you, your authenticator app's code, or a recovery code (press
Enter at the code prompt for a new emailed code). The server creates a token
for this CLI that expires in 30 days. Without a terminal, --password-stdin
reads the password from the first line of standard input and the code from
the next.

With --token or --token-stdin, checks an existing token (for scripts: make
one with 'rampart token create').`,
		Example: `  rampart login --server https://rampart.example.com --email ada@example.com
  rampart token create --email alice@example.com | rampart login --server http://127.0.0.1:7070 --token-stdin`,
		Args: exactArgs(),
	}
	cmd.Flags().BoolVar(&tokenStdin, "token-stdin", false, "read the token from standard input")
	cmd.Flags().StringVar(&email, "email", "", "log in as this account, with its password and second factor")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "with --email: read the password, then the code, from standard input")
	cmd.Flags().StringVar(&tokenName, "token-name", "", `with --email: a label for the token this login creates (default "cli on HOSTNAME")`)
	cmd.MarkFlagsMutuallyExclusive("email", "token-stdin")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if tokenStdin {
			b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 4096))
			if err != nil {
				return err
			}
			cf.token = strings.TrimSpace(string(b))
		}
		if email != "" {
			if cf.token != "" {
				return usageError{errors.New("--email logs in with a password and makes a new token: leave out --token")}
			}
			tok, err := loginWithPassword(cmd, cf, email, passwordStdin, tokenName)
			if err != nil {
				return err
			}
			cf.token = tok
		}
		c, err := cf.resolve()
		if err != nil {
			return err
		}
		cl, err := cf.client()
		if err != nil {
			return err
		}
		me, err := cl.Me(cmd.Context())
		if err != nil {
			return err
		}
		p, err := cliConfigPath()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(c, "", "  ")
		if err := writeFileAtomic(p, append(b, '\n'), 0o600); err != nil {
			return err
		}
		return output(cmd, me, func(w io.Writer) {
			fmt.Fprintf(w, "Logged in to %s as %s (%s). Saved to %s.\n", c.Server, me.Email, me.Role, p)
		})
	}
	return cmd
}

// loginWithPassword runs the two steps of a login (password, then the
// second factor) and returns the new token.
func loginWithPassword(cmd *cobra.Command, cf *clientFlags, email string, fromStdin bool, tokenName string) (string, error) {
	c, err := cf.resolve()
	if err != nil {
		return "", err
	}
	if c.Server == "" {
		return "", usageError{errors.New("no server given: pass --server URL (the dashboard's address)")}
	}
	cl, err := client.New(c.Server, "")
	if err != nil {
		return "", err
	}
	in := newPrompter(cmd, fromStdin)
	pw, err := in.secret("Password for " + email + ": ")
	if err != nil {
		return "", err
	}
	res, err := cl.Login(cmd.Context(), email, pw)
	if err != nil {
		return "", err
	}
	if tokenName == "" {
		host, _ := os.Hostname()
		tokenName = "cli on " + host
	}
	for res.Token == "" {
		step := res.Step
		if step == nil {
			return "", errors.New("the server answered the login with neither a token nor a next step: is --server a rampart of this version?")
		}
		prompt := "Code from your authenticator app (or a recovery code): "
		if step.Method == rampart.MFAEmail {
			prompt = fmt.Sprintf("Code emailed to %s (Enter: send a new one): ", step.SentTo)
		}
		code, err := in.line(prompt)
		if err != nil {
			return "", err
		}
		if code == "" && step.Method == rampart.MFAEmail && !fromStdin {
			if res, err = cl.LoginResend(cmd.Context(), step.Challenge); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), rampart.ErrorMessage(err))
				res = &rampart.LoginResponse{Step: step}
			}
			continue
		}
		res, err = cl.LoginCode(cmd.Context(), rampart.LoginCodeRequest{Challenge: step.Challenge, Code: code, TokenName: tokenName})
		switch {
		case err == nil:
		case rampart.ErrorCode(err) == rampart.EUNAUTHORIZED && !fromStdin && !strings.Contains(err.Error(), "log in again"):
			// A mistyped code: ask again, the login is still open.
			fmt.Fprintln(cmd.ErrOrStderr(), rampart.ErrorMessage(err))
			res = &rampart.LoginResponse{Step: step}
		default:
			return "", err
		}
	}
	return res.Token, nil
}

// prompter reads the password and the code from the terminal, or from
// standard input's lines with --password-stdin.
type prompter struct {
	cmd   *cobra.Command
	stdin *bufio.Reader
	tty   *os.File
}

func newPrompter(cmd *cobra.Command, fromStdin bool) *prompter {
	p := &prompter{cmd: cmd}
	if fromStdin {
		p.stdin = bufio.NewReader(cmd.InOrStdin())
	} else if f, ok := cmd.InOrStdin().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = f
		p.stdin = bufio.NewReader(f)
	}
	return p
}

func (p *prompter) secret(prompt string) (string, error) {
	if p.tty == nil {
		return p.line(prompt)
	}
	fmt.Fprint(p.cmd.ErrOrStderr(), prompt)
	b, err := term.ReadPassword(int(p.tty.Fd()))
	fmt.Fprintln(p.cmd.ErrOrStderr())
	return string(b), err
}

func (p *prompter) line(prompt string) (string, error) {
	if p.stdin == nil {
		return "", usageError{errors.New("no terminal to ask on: pass the password and then the code on standard input with --password-stdin, or use --token-stdin")}
	}
	if p.tty != nil {
		fmt.Fprint(p.cmd.ErrOrStderr(), prompt)
	}
	s, err := p.stdin.ReadString('\n')
	if err != nil && (err != io.EOF || s == "") {
		if err == io.EOF {
			return "", errors.New("standard input ended before the login was complete: give the password on the first line and the code on the second")
		}
		return "", err
	}
	return strings.TrimSpace(s), nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
