package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

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
	var tokenStdin bool
	cmd := &cobra.Command{
		Use:   "login --server URL [--token TOKEN | --token-stdin]",
		Short: "Check an API token against a server and remember both",
		Long: `Check the token against the server and store the server URL and token in
~/.config/rampart/cli.json (mode 0600), so later commands need neither flag.`,
		Example: `  rampart token create --email alice@example.com | rampart login --server http://127.0.0.1:7070 --token-stdin`,
		Args:    exactArgs(),
	}
	cmd.Flags().BoolVar(&tokenStdin, "token-stdin", false, "read the token from standard input")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if tokenStdin {
			b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 4096))
			if err != nil {
				return err
			}
			cf.token = strings.TrimSpace(string(b))
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
