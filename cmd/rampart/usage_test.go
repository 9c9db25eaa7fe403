package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func runArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestUnknownSubcommand: a word no command group knows is a wrong command
// line (exit 2) in every group, not a silent help page.
func TestUnknownSubcommand(t *testing.T) {
	var groups []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() {
			groups = append(groups, c)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(nil, nil, nil))
	if len(groups) < 5 {
		t.Fatalf("found only %d command groups", len(groups))
	}
	for _, g := range groups {
		path := strings.Fields(g.CommandPath())[1:]
		for _, args := range [][]string{
			append(path[:len(path):len(path)], "nosuchverb"),
			append(path[:len(path):len(path)], "nosuchverb", "extra"),
		} {
			t.Run(strings.Join(args, "_"), func(t *testing.T) {
				code, stdout, stderr := runArgs(t, args...)
				want := fmt.Sprintf("rampart: unknown command %q for %q", "nosuchverb", g.CommandPath())
				if code != 2 || !strings.Contains(stderr, want) || !strings.Contains(stderr, fmt.Sprintf("Run '%s --help' for usage.", g.CommandPath())) {
					t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, want)
				}
				if stdout != "" {
					t.Errorf("stdout %q; want nothing", stdout)
				}
			})
		}
	}
}

// TestUnknownSubcommandSuggests: the words people actually mistype.
func TestUnknownSubcommandSuggests(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"service", "lst"}, "Did you mean this?\n\tlist"},
		{[]string{"service", "resurrect", "blog"}, `unknown command "resurrect" for "rampart service"`},
		{[]string{"servce", "list"}, "Did you mean this?\n\tserve\n\tservice"},
	} {
		code, _, stderr := runArgs(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

// TestGroupHelp: asking a group for help, or naming only the group, still
// prints its help and succeeds.
func TestGroupHelp(t *testing.T) {
	for _, args := range [][]string{{"service", "--help"}, {"service"}, {"help", "service"}, {"--help"}, {}} {
		code, stdout, stderr := runArgs(t, args...)
		if code != 0 || !strings.Contains(stdout, "Usage:") || stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
		// A group has no usage of its own, only its subcommands'.
		if strings.Contains(stdout, "rampart service [flags]") {
			t.Errorf("%q shows a usage line the group does not have:\n%s", args, stdout)
		}
	}
}
