package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-dev/rampart"
)

// envAppliedNote is said after every change: the environment is stored
// now, and nothing in this release starts the service's process.
const envAppliedNote = "A service gets its environment when rampart starts its process. This release does not run services yet (they run where you deploy them), so set the same variables there for now."

func newEnvCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Show or change a service's environment variables",
		Long: `A service's environment is what its process gets at start: apps that must know
their own domain read it from there (e.g. APP_URL=https://shop.example.com).
It is the Env tab of "Update config" in the dashboard.

` + envAppliedNote,
	}
	list := &cobra.Command{
		Use:     "list SERVICE",
		Aliases: []string{"show", "ls"},
		Short:   "Print a service's environment as NAME=value lines (a .env file)",
		Args:    exactArgs("SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, s, err := cf.service(cmd, args[0])
			if err != nil {
				return err
			}
			return output(cmd, s.Env, func(w io.Writer) {
				if len(s.Env) == 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s has no environment variables. Set one with: rampart env set %s NAME=value\n", s.Name, s.Name)
					return
				}
				fmt.Fprint(w, rampart.FormatEnvFile(s.Env))
			})
		},
	}
	var file string
	set := &cobra.Command{
		Use:   "set SERVICE NAME=value… [--file .env]",
		Short: "Set environment variables; others stay as they are",
		Example: `  rampart env set shop APP_URL=https://shop.example.com
  rampart env set shop --file .env
  printf 'A=1\nB=2\n' | rampart env set shop --file -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("'%s' needs the SERVICE, then NAME=value pairs or --file", cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			patch := rampart.EnvPatch{}
			if file != "" {
				env, err := readEnvFile(cmd, file)
				if err != nil {
					return err
				}
				for k, v := range env {
					patch[k] = &v
				}
			}
			for _, a := range args[1:] {
				name, value, ok := strings.Cut(a, "=")
				if !ok {
					return usageError{fmt.Errorf("%q has no '=': write NAME=value (NAME= sets it empty; use 'rampart env unset' to remove it)", a)}
				}
				if err := rampart.ValidateEnvName(name); err != nil {
					return usageError{err}
				}
				patch[name] = &value
			}
			if len(patch) == 0 {
				return usageError{fmt.Errorf("nothing to set: give NAME=value pairs or --file")}
			}
			return changeEnv(cmd, cf, args[0], patch)
		},
	}
	set.Flags().StringVar(&file, "file", "", "read NAME=value lines from this .env file (- for standard input)")
	unset := &cobra.Command{
		Use:     "unset SERVICE NAME…",
		Aliases: []string{"rm"},
		Short:   "Remove environment variables",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError{fmt.Errorf("'%s' needs the SERVICE and at least one NAME", cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			patch := rampart.EnvPatch{}
			for _, name := range args[1:] {
				if err := rampart.ValidateEnvName(name); err != nil {
					return usageError{err}
				}
				patch[name] = nil
			}
			return changeEnv(cmd, cf, args[0], patch)
		},
	}
	cmd.AddCommand(list, set, unset)
	return cmd
}

func readEnvFile(cmd *cobra.Command, file string) (rampart.Env, error) {
	var (
		b   []byte
		err error
	)
	if file == "-" {
		b, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 4*rampart.MaxEnvBytes))
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	env, err := rampart.ParseEnvFile(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %s", file, rampart.ErrorMessage(err))
	}
	return env, nil
}

func changeEnv(cmd *cobra.Command, cf *clientFlags, service string, patch rampart.EnvPatch) error {
	cl, s, err := cf.service(cmd, service)
	if err != nil {
		return err
	}
	_, set, removed := patch.Apply(s.Env)
	updated, err := cl.UpdateService(cmd.Context(), s.Name, rampart.ServiceUpdate{Env: patch})
	if err != nil {
		return err
	}
	return output(cmd, updated.Env, func(w io.Writer) {
		switch {
		case len(set) == 0 && len(removed) == 0:
			fmt.Fprintf(w, "Nothing changed on %s.\n", s.Name)
			return
		case len(set) > 0 && len(removed) > 0:
			fmt.Fprintf(w, "Set %s and removed %s on %s.\n", strings.Join(set, ", "), strings.Join(removed, ", "), s.Name)
		case len(set) > 0:
			fmt.Fprintf(w, "Set %s on %s.\n", strings.Join(set, ", "), s.Name)
		default:
			fmt.Fprintf(w, "Removed %s from %s.\n", strings.Join(removed, ", "), s.Name)
		}
		fmt.Fprintln(w, envAppliedNote)
	})
}
