package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-dev/rampart"
)

// People and tokens through the API, for admins at their own machine:
// the network side of `rampart user` and `rampart token`, beside the
// operator commands that work on the data directory (create, reset-mfa).

func newUserListCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List every account with its role, status and second factor (admins, through the API)",
		Example: `  rampart user list
  rampart user list -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			users, err := cl.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			return output(cmd, users, func(w io.Writer) {
				rows := make([][]string, 0, len(users))
				for _, u := range users {
					rows = append(rows, []string{u.Email, string(u.Role), string(u.Status), string(u.MFA), u.CreatedAt.UTC().Format(time.DateOnly)})
				}
				table(w, []string{"EMAIL", "ROLE", "STATUS", "SECOND FACTOR", "CREATED"}, rows)
			})
		},
	}
}

func newUserInviteCmd(cf *clientFlags) *cobra.Command {
	var admin bool
	cmd := &cobra.Command{
		Use:   "invite EMAIL [--admin]",
		Short: "Invite someone: they get an email with a link to choose their password (admins, through the API)",
		Long: `Create an account without a password and have the server email its owner a
one-time link, valid 7 days, where they choose one. Until then nobody can log
in to it. Inviting the same address again sends a new link; the old one stops
working. The server needs its mail settings (mail.smtp) and admin.domain.`,
		Example: `  rampart user invite carol@example.com
  rampart user invite dave@example.com --admin`,
		Args: exactArgs("EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			role := rampart.RoleMember
			if admin {
				role = rampart.RoleAdmin
			}
			u, err := cl.InviteUser(cmd.Context(), rampart.InviteInput{Email: args[0], Role: role})
			if err != nil {
				return err
			}
			return output(cmd, u, func(w io.Writer) {
				fmt.Fprintf(w, "Invited %s as %s: they were emailed a link to choose their password (valid 7 days).\n", u.Email, u.Role)
			})
		},
	}
	cmd.Flags().BoolVar(&admin, "admin", false, "make the account an admin")
	return cmd
}

func newUserSetRoleCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "set-role EMAIL admin|member",
		Short: "Make an account an admin or a member (admins, through the API)",
		Long: `Change an account's role. Admins see and change everything; members only their
own services. Nobody changes their own role, and the last active admin stays
one: make someone else an admin first.`,
		Example: `  rampart user set-role carol@example.com admin`,
		Args:    exactArgs("EMAIL", "ROLE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			role := rampart.Role(strings.ToLower(args[1]))
			u, err := cl.UpdateUser(cmd.Context(), args[0], rampart.UserPatch{Role: &role})
			if err != nil {
				return err
			}
			return output(cmd, u, func(w io.Writer) { fmt.Fprintf(w, "%s is now %s.\n", u.Email, u.Role) })
		},
	}
}

// newUserDisableCmd is `user disable` (disable true) or `user enable`.
func newUserDisableCmd(cf *clientFlags, disable bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "enable EMAIL",
		Short:   "Let a disabled account log in again; its API tokens work again (admins, through the API)",
		Example: `  rampart user enable carol@example.com`,
		Args:    exactArgs("EMAIL"),
	}
	if disable {
		cmd.Use, cmd.Short, cmd.Example = "disable EMAIL", "Disable an account at once: sessions end, tokens and logins are refused (admins, through the API)", `  rampart user disable carol@example.com`
		cmd.Long = `Disable an account without deleting it: its dashboard sessions end at once,
and its API tokens and logins are refused from the next request. Its services
keep running. 'rampart user enable' undoes it. Nobody disables themselves, and
the last active admin cannot be disabled.`
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cl, err := cf.client()
		if err != nil {
			return err
		}
		u, err := cl.UpdateUser(cmd.Context(), args[0], rampart.UserPatch{Disabled: &disable})
		if err != nil {
			return err
		}
		return output(cmd, u, func(w io.Writer) {
			if disable {
				fmt.Fprintf(w, "Disabled %s: their sessions ended, and their tokens and logins are refused.\n", u.Email)
			} else {
				fmt.Fprintf(w, "Enabled %s: they can log in again.\n", u.Email)
			}
		})
	}
	return cmd
}

func newUserDeleteCmd(cf *clientFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete EMAIL [--yes]",
		Short: "Delete an account and its tokens (asks first unless --yes; admins, through the API)",
		Long: `Delete an account with its API tokens and sessions; the audit log keeps its
history. The server refuses while the account owns services and names them:
delete those first, or disable the account instead ('rampart user disable').`,
		Example: `  rampart user delete carol@example.com
  rampart user delete carol@example.com --yes`,
		Args: exactArgs("EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			email := args[0]
			ask, err := terminalToAsk(cmd, yes, "delete the account")
			if err != nil {
				return err
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			if ask != nil && !askYes(cmd, ask, fmt.Sprintf("Delete the account %s and its API tokens? This cannot be undone.", email)) {
				return fmt.Errorf("not deleted")
			}
			if err := cl.DeleteUser(cmd.Context(), email); err != nil {
				return err
			}
			return output(cmd, map[string]string{"deleted": email}, func(w io.Writer) {
				fmt.Fprintf(w, "Deleted the account %s.\n", email)
			})
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking")
	return cmd
}

func newUserResetPasswordCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "reset-password EMAIL",
		Short: "Email a user a link to choose a new password (admins, through the API)",
		Long: `Have the server email the user a one-time link, valid 1 hour, where they choose
a new password. Their current password keeps working until they use it; then
their sessions end. Nobody else ever sees or sets the password.`,
		Example: `  rampart user reset-password carol@example.com`,
		Args:    exactArgs("EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			if err := cl.ResetPassword(cmd.Context(), args[0]); err != nil {
				return err
			}
			return output(cmd, map[string]string{"reset_link_sent_to": args[0]}, func(w io.Writer) {
				fmt.Fprintf(w, "Emailed %s a link to choose a new password (valid 1 hour).\n", args[0])
			})
		},
	}
}

func newTokenListCmd(cf *clientFlags) *cobra.Command {
	var email string
	cmd := &cobra.Command{
		Use:     "list [--email EMAIL]",
		Aliases: []string{"ls"},
		Short:   "List your API tokens, or (admins) someone's, with when they were last used (through the API)",
		Example: `  rampart token list
  rampart token list --email carol@example.com`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			tokens, err := cl.ListTokens(cmd.Context(), email)
			if err != nil {
				return err
			}
			return output(cmd, tokens, func(w io.Writer) {
				day := func(t *time.Time, none string) string {
					if t == nil {
						return none
					}
					return t.UTC().Format(time.DateTime + " UTC")
				}
				rows := make([][]string, 0, len(tokens))
				for _, t := range tokens {
					rows = append(rows, []string{strconv.FormatInt(t.ID, 10), t.Name, day(&t.CreatedAt, ""), day(t.LastUsedAt, "never"), day(t.ExpiresAt, "never")})
				}
				table(w, []string{"ID", "NAME", "CREATED", "LAST USED", "EXPIRES"}, rows)
			})
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "whose tokens (admins); default: yours")
	return cmd
}

func newTokenRevokeCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke an API token: the next request with it is refused (yours, or anyone's for admins; through the API)",
		Example: `  rampart token revoke 7`,
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageError{fmt.Errorf("token %q: name it by its number, as 'rampart token list' shows it", args[0])}
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			if err := cl.RevokeToken(cmd.Context(), id); err != nil {
				return err
			}
			return output(cmd, map[string]int64{"revoked": id}, func(w io.Writer) {
				fmt.Fprintf(w, "Revoked API token %d.\n", id)
			})
		},
	}
}
