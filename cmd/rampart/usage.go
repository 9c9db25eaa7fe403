package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// requireSubcommand makes every command group under root (a command with
// subcommands and nothing to run itself) refuse a word it does not know.
// Cobra only checks that at the root: a group without Run prints its help
// and succeeds, so `rampart service protect` would look like it worked.
// Without arguments a group still prints its help.
func requireSubcommand(root *cobra.Command) {
	// Cobra adds its completion group only when the command line is
	// executed; adding it now lets the walk below cover it too.
	root.InitDefaultCompletionCmd()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.HasSubCommands() || c.Runnable() {
			return
		}
		c.Args = unknownSubcommand
		c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		// Runnable now, the group would show "rampart service [flags]" as
		// a usage of its own: it has none but its subcommands'.
		c.SetUsageTemplate(strings.Replace(c.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	}
	walk(root)
}

func unknownSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, applied only on its own path
	}
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t") + "\n"
	}
	return usageError{fmt.Errorf("%s", msg)}
}
