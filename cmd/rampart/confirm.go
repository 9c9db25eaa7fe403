package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Destructive commands (user delete, sshkey remove) ask before they act
// unless --yes. They look for the terminal to ask on before sending
// anything, so that a script without --yes fails at once and changes
// nothing.

// terminalToAsk returns the terminal a destructive command asks on, or nil
// with --yes. Without --yes and a terminal it is a usage error that names
// --yes; doing is what --yes would do ("delete the account").
func terminalToAsk(cmd *cobra.Command, yes bool, doing string) (*os.File, error) {
	if yes {
		return nil, nil
	}
	f, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, usageError{fmt.Errorf("standard input is not a terminal to ask on: pass --yes to %s without asking", doing)}
	}
	return f, nil
}

// askYes asks question on the terminal f (the question on standard error);
// only "y" or "yes" agrees.
func askYes(cmd *cobra.Command, f *os.File, question string) bool {
	fmt.Fprint(cmd.ErrOrStderr(), question+" [y/N] ")
	line, _ := bufio.NewReader(f).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}
