package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/sshkeys"
)

func newSSHKeyCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "sshkey",
		Aliases: []string{"sshkeys", "ssh-key"},
		Short:   "Manage the SSH keys in the server's authorized_keys (admins only)",
		Long: `The SSH Keys of the node: public keys that rampart writes into a block it
manages in the target user's ~/.ssh/authorized_keys (root by default; config
ssh.user). Lines outside that block are kept as they are, byte for byte, so
keys you added by hand keep working. A key there logs in to the machine every
account shares, which is why only admins manage them.

Keys are parsed before anything is stored: ed25519, ecdsa, rsa of 2048 bits
or more and security keys (sk-…) are accepted; DSA, short RSA, certificates,
options, garbage and private keys pasted by mistake are refused with the
reason. A private key is never sent, stored or logged.

Writing authorized_keys is the operator's choice: with ssh.manage_authorized_keys
off (the default, and in --demo) keys are stored and listed but nothing on the
machine changes; 'rampart sshkey list' says which is the case.`,
	}
	cmd.AddCommand(newSSHKeyAddCmd(cf), newSSHKeyListCmd(cf), newSSHKeyRemoveCmd(cf))
	return cmd
}

func newSSHKeyAddCmd(cf *clientFlags) *cobra.Command {
	var title, keyFile string
	cmd := &cobra.Command{
		Use:   "add --title TITLE [--key-file FILE | -]",
		Short: "Add a public key (from a file, or standard input with -)",
		Example: `  rampart sshkey add --title "ada's laptop" --key-file ~/.ssh/id_ed25519.pub
  ssh-add -L | head -1 | rampart sshkey add --title "ada's agent" -
  rampart sshkey add --title ci --key-file ci.pub -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 || len(args) == 1 && args[0] != "-" {
				return usageError{fmt.Errorf("'%s' takes no argument but -, which reads the key from standard input; give a file with --key-file", cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(title) == "" {
				return usageError{fmt.Errorf("give the key a title with --title, e.g. --title \"ada's laptop\"")}
			}
			switch {
			case len(args) == 1 && keyFile != "" && keyFile != "-":
				return usageError{fmt.Errorf("give either --key-file FILE or -, not both")}
			case len(args) == 1:
				keyFile = "-"
			case keyFile == "":
				return usageError{fmt.Errorf("give the public key with --key-file FILE (e.g. ~/.ssh/id_ed25519.pub), or pipe it in and pass -")}
			}
			paste, err := readPaste(cmd, keyFile)
			if err != nil {
				return err
			}
			// A private key pasted by mistake does not leave this machine:
			// the server would refuse it too, but it should not see it.
			if _, err := sshkeys.ParseOne(paste); errors.Is(err, sshkeys.ErrPrivateKey) {
				return fmt.Errorf("%v; nothing was sent to the server", err)
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			k, err := cl.AddSSHKey(cmd.Context(), rampart.SSHKeyInput{Title: title, PublicKey: paste})
			if err != nil {
				return err
			}
			return output(cmd, k, func(w io.Writer) {
				fmt.Fprintf(w, "Added SSH key %d %q: %s %d %s\n", k.ID, k.Title, k.Type, k.Bits, k.Fingerprint)
				if list, err := cl.ListSSHKeys(cmd.Context()); err == nil {
					fmt.Fprintln(w, list.Status.Message)
				}
			})
		},
	}
	cmd.Flags().StringVar(&title, "title", "", "a name for the key, e.g. whose laptop it is (required)")
	cmd.Flags().StringVar(&keyFile, "key-file", "", "the public key file (.pub); - reads standard input")
	return cmd
}

// readPaste reads the key file, or standard input for "-", bounded by
// what the server would take.
func readPaste(cmd *cobra.Command, file string) (string, error) {
	var r io.Reader
	if file == "-" {
		in := cmd.InOrStdin()
		if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			fmt.Fprintln(cmd.ErrOrStderr(), "Paste the public key (one line), then press Ctrl-D:")
		}
		r = in
	} else {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("read the key: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, sshkeys.MaxPasteBytes+1))
	if err != nil {
		return "", fmt.Errorf("read the key: %w", err)
	}
	if len(b) > sshkeys.MaxPasteBytes {
		return "", fmt.Errorf("the key input is larger than %d bytes: give the .pub file of one key", sshkeys.MaxPasteBytes)
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", fmt.Errorf("the key input is empty: give the .pub file, e.g. --key-file ~/.ssh/id_ed25519.pub")
	}
	return string(b), nil
}

func newSSHKeyListCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the SSH keys with type, bits, fingerprint, title, who added them and when",
		Example: `  rampart sshkey list
  rampart sshkey list -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			list, err := cl.ListSSHKeys(cmd.Context())
			if err != nil {
				return err
			}
			return output(cmd, list, func(w io.Writer) {
				if len(list.Keys) == 0 {
					fmt.Fprintln(w, "No SSH keys yet. Add one with: rampart sshkey add --title \"my laptop\" --key-file ~/.ssh/id_ed25519.pub")
				} else {
					rows := make([][]string, 0, len(list.Keys))
					for _, k := range list.Keys {
						rows = append(rows, []string{strconv.FormatInt(k.ID, 10), k.Type, strconv.Itoa(k.Bits), k.Fingerprint, k.Title, k.AddedBy, k.CreatedAt.UTC().Format(time.DateTime + " UTC")})
					}
					table(w, []string{"ID", "TYPE", "BITS", "FINGERPRINT", "TITLE", "ADDED BY", "ADDED"}, rows)
				}
				fmt.Fprintf(w, "\n%s\n", list.Status.Message)
			})
		},
	}
}

func newSSHKeyRemoveCmd(cf *clientFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:     "remove ID|FINGERPRINT [--yes]",
		Aliases: []string{"rm"},
		Short:   "Remove an SSH key; it stops logging in (asks first unless --yes)",
		Example: `  rampart sshkey remove 3
  rampart sshkey remove SHA256:V2yxsKczOO3CaVlULjVFY8h79xjegj3OMsF+ZegJyRo --yes`,
		Args: exactArgs("ID|FINGERPRINT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := args[0]
			ask, err := terminalToAsk(cmd, yes, "remove the key")
			if err != nil {
				return err
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			if ask != nil {
				what := ref
				if list, err := cl.ListSSHKeys(cmd.Context()); err == nil {
					for _, k := range list.Keys {
						if strconv.FormatInt(k.ID, 10) == ref || k.Fingerprint == ref || k.Fingerprint == "SHA256:"+ref {
							what = fmt.Sprintf("%d %q (%s %s)", k.ID, k.Title, k.Type, k.Fingerprint)
						}
					}
				}
				if !askYes(cmd, ask, fmt.Sprintf("Remove SSH key %s? Whoever holds it can no longer log in with it.", what)) {
					return fmt.Errorf("not removed")
				}
			}
			if err := cl.RemoveSSHKey(cmd.Context(), ref); err != nil {
				return err
			}
			return output(cmd, map[string]string{"removed": ref}, func(w io.Writer) {
				fmt.Fprintf(w, "Removed SSH key %s.\n", ref)
			})
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "remove without asking")
	return cmd
}
