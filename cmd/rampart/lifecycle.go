package main

import (
	"context"
	"crypto/sha256"
	"fmt"

	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/client"
)

// runtimeFlags are the flags that describe a runtime, shared by create
// and update.
type runtimeFlags struct {
	kind, command, dir, user, version, composeFile string
	args                                           []string
	port                                           int
	stopTimeout                                    time.Duration
}

func (f *runtimeFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.kind, "runtime", "", "who runs the application: proxy (it runs elsewhere), exec (rampart runs --command) or compose (a docker compose project); admins only")
	fl.StringVar(&f.command, "command", "", "exec: the program to run; ${VERSION} is replaced by --version")
	fl.StringArrayVar(&f.args, "arg", nil, "exec: an argument of the program (repeat for several; no shell)")
	fl.StringVar(&f.dir, "dir", "", "exec: working directory (default: the service's data directory, also given as DATA_DIR)")
	fl.StringVar(&f.user, "user", "", "exec: run as this system user (default: rampart's own)")
	fl.StringVar(&f.composeFile, "compose-file", "", "compose: path of the docker-compose.yml to use (its text is stored)")
	fl.IntVar(&f.port, "port", 0, "the loopback port the application listens on (exec: given as PORT) or publishes (compose)")
	fl.StringVar(&f.version, "version", "", "the software version (${VERSION}: in the command, or the image tag)")
	fl.DurationVar(&f.stopTimeout, "stop-timeout", 0, "how long a graceful stop waits before killing (default 10s)")
}

func (f *runtimeFlags) changed(cmd *cobra.Command) bool {
	for _, n := range []string{"runtime", "command", "arg", "dir", "user", "compose-file", "port", "version", "stop-timeout"} {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// runtime builds the runtime the flags describe, on top of base (the
// service's current one, for update).
func (f *runtimeFlags) runtime(cmd *cobra.Command, base rampart.Runtime) (*rampart.Runtime, error) {
	rt := base
	fl := cmd.Flags()
	if fl.Changed("runtime") {
		if rampart.RuntimeKind(f.kind) != base.Kind {
			rt = rampart.Runtime{Version: base.Version}
		}
		rt.Kind = rampart.RuntimeKind(f.kind)
	}
	if fl.Changed("command") {
		rt.Command = f.command
	}
	if fl.Changed("arg") {
		rt.Args = f.args
	}
	if fl.Changed("dir") {
		rt.Dir = f.dir
	}
	if fl.Changed("user") {
		rt.User = f.user
	}
	if fl.Changed("port") {
		rt.Port = f.port
	}
	if fl.Changed("version") {
		rt.Version = f.version
	}
	if fl.Changed("stop-timeout") {
		rt.StopTimeout = rampart.Duration(f.stopTimeout)
	}
	if fl.Changed("compose-file") {
		b, err := readLimited(f.composeFile, rampart.MaxComposeFileLength)
		if err != nil {
			return nil, usageError{fmt.Errorf("--compose-file: %w", err)}
		}
		rt.ComposeFile = string(b)
	}
	if rt.Kind == "" {
		switch {
		case rt.ComposeFile != "":
			rt.Kind = rampart.RuntimeCompose
		case rt.Command != "":
			rt.Kind = rampart.RuntimeExec
		}
	}
	return &rt, nil
}

// readLimited reads a file of at most max bytes.
func readLimited(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}

// actionHelp says what each runtime action does; the seed's words in
// brackets.
var actionHelp = map[string]struct{ short, done string }{
	"start":   {"Start a stopped service: routed again, and run again when rampart runs it", "Started %s."},
	"stop":    {"Stop a service (shut down): a graceful stop, and the edge answers 503 for it", "Stopped %s: the edge answers 503 for it until `rampart service start %s`."},
	"kill":    {"Kill a service's processes at once (power off); it stays stopped", "Killed %s: it stays stopped until `rampart service start %s`."},
	"restart": {"Restart a service (reboot): a new process with the same configuration", "Restarting %s."},
	"reset":   {"Reset a service (reinstall): back up its data, then start it afresh with an empty data directory", "Reset %s: its data was backed up first (see `rampart backup list %s`), and it starts afresh."},
}

// seedWords are the seed's names of the actions, accepted as aliases.
var seedWords = map[string][]string{
	"stop":    {"shutdown", "shut-down"},
	"kill":    {"poweroff", "power-off"},
	"restart": {"reboot"},
	"reset":   {"reinstall"},
}

func newServiceActionCmd(cf *clientFlags, action string) *cobra.Command {
	h := actionHelp[action]
	long := h.short + "."
	if action != "start" {
		long += "\n\nRefused while the service's termination protection is on (rampart service protect NAME off)."
	}
	if action != "start" && action != "stop" {
		long += "\nOnly for services rampart runs (runtime exec or compose)."
	}
	return &cobra.Command{
		Use:     action + " NAME",
		Aliases: seedWords[action],
		Short:   h.short,
		Long:    long,
		Example: "  rampart service " + action + " blog",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			s, err := cl.ServiceAction(cmd.Context(), args[0], action)
			if err != nil {
				return err
			}
			return output(cmd, s, func(w io.Writer) {
				msg := h.done
				if strings.Count(msg, "%s") == 2 {
					fmt.Fprintf(w, msg+"\n", s.Name, s.Name)
				} else {
					fmt.Fprintf(w, msg+"\n", s.Name)
				}
			})
		},
	}
}

func newServiceSetVersionCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "set-version NAME VERSION",
		Short: "Change the software version a service runs (refused while termination protection is on)",
		Long: `Change the software version a service runs: ${VERSION} in an exec
service's command and arguments, the image tag ${VERSION} of a compose
file. The service restarts with it. Refused while termination protection
is on.`,
		Example: "  rampart service set-version blog 1.5.0",
		Args:    exactArgs("NAME", "VERSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			s, err := cl.SetVersion(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return output(cmd, s, func(w io.Writer) {
				fmt.Fprintf(w, "%s runs version %s next.\n", s.Name, s.Runtime.Version)
			})
		},
	}
}

func newServiceTransferCmd(cf *clientFlags) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "transfer NAME --to EMAIL",
		Short: "Hand a service to another account (admins)",
		Long: `Hand a service to another account, with everything that is the
service's: its domains, environment, runtime, backups, mail and edge log.
The old owner no longer sees it from then on; both are emailed, and each
finds it in their audit log. The new account must exist and be enabled.
A deleted service in its grace period can be handed over too, so that its
old owner's account can then be deleted (rampart user delete).

Admins only.`,
		Example: "  rampart service transfer shop --to noor@example.com",
		Args:    exactArgs("NAME"),
	}
	cmd.Flags().StringVar(&to, "to", "", "the email of the account that is to own the service")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if strings.TrimSpace(to) == "" {
			return usageError{fmt.Errorf("say whom to hand %s to: --to EMAIL", args[0])}
		}
		cl, err := cf.client()
		if err != nil {
			return err
		}
		s, err := cl.TransferService(cmd.Context(), args[0], to)
		if err != nil {
			return err
		}
		return output(cmd, s, func(w io.Writer) {
			fmt.Fprintf(w, "%s belongs to %s now.\n", s.Name, s.Owner)
		})
	}
	return cmd
}

func newServiceRestoreCmd(cf *clientFlags) *cobra.Command {
	var id int64
	cmd := &cobra.Command{
		Use:   "restore NAME [--backup ID]",
		Short: "Restore a deleted service within its grace period, with its data",
		Long: `Restore a deleted service within its grace period (7 days by default):
it comes back with its configuration and the data of its final backup (or
of --backup), and it serves again. Every checksum of the archive is checked
before anything changes.

With --backup, a live service's data is replaced by that backup's; its
current data is backed up first (pre-restore).`,
		Example: "  rampart service restore blog\n  rampart service restore blog --backup 12",
		Args:    exactArgs("NAME"),
	}
	cmd.Flags().Int64Var(&id, "backup", 0, "the backup to restore (rampart backup list NAME); default the final backup of a deleted service")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return restore(cmd, cf, args[0], id)
	}
	return cmd
}

func newServicePurgeCmd(cf *clientFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "purge NAME --yes",
		Short: "Remove a deleted service for good now, with its backups (admins; cannot be undone)",
		Long: `Remove a deleted service for good before its grace period ends: its
backups, its data and its record. Its name and domains become free. The
purge does this by itself when the grace period ends; this is for an admin
who must free the name or the disk sooner. Only for deleted services, and
it cannot be undone: say --yes.`,
		Example: "  rampart service purge blog --yes",
		Args:    exactArgs("NAME"),
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm that the service and its backups are to be removed for good")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !yes {
			return usageError{fmt.Errorf("purging %s removes it and its backups for good: say --yes to confirm", args[0])}
		}
		cl, err := cf.client()
		if err != nil {
			return err
		}
		if err := cl.PurgeService(cmd.Context(), args[0]); err != nil {
			return err
		}
		return output(cmd, map[string]string{"purged": args[0]}, func(w io.Writer) {
			fmt.Fprintf(w, "Purged %s: it and its backups are gone, and its name is free.\n", args[0])
		})
	}
	return cmd
}

func restore(cmd *cobra.Command, cf *clientFlags, name string, id int64) error {
	cl, err := cf.client()
	if err != nil {
		return err
	}
	s, err := cl.RestoreService(cmd.Context(), name, id)
	if err != nil {
		return err
	}
	return output(cmd, s, func(w io.Writer) {
		fmt.Fprintf(w, "Restored %s: %s\n", s.Name, serviceURL(s))
	})
}

func newBackupCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "backup",
		Aliases: []string{"backups"},
		Short:   "Back up services, list their backups, restore and download them",
		Long: `A backup is one archive (tar + zstd) of a service's data directory and
its configuration, with a SHA-256 of every file, checked before a restore
changes anything. rampart backs each service up daily (keeping the newest
7), before a reset or a restore, and once more when it is deleted.`,
	}
	cmd.AddCommand(newBackupCreateCmd(cf), newBackupListCmd(cf), newBackupRestoreCmd(cf), newBackupDownloadCmd(cf))
	return cmd
}

func newBackupCreateCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "create NAME",
		Short:   "Back a service up now",
		Example: "  rampart backup create blog",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			b, err := cl.CreateBackup(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output(cmd, b, func(w io.Writer) {
				fmt.Fprintf(w, "Backup %d of %s: %s of data in %s (%d files), sha256 %s\n", b.ID, b.Service, humanBytes(b.DataBytes), humanBytes(b.Size), b.Files, b.SHA256)
			})
		},
	}
}

func newBackupListCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "list NAME",
		Aliases: []string{"ls"},
		Short:   "List a service's backups, newest first",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			list, err := cl.ListBackups(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output(cmd, list, func(w io.Writer) {
				if len(list) == 0 {
					fmt.Fprintf(w, "No backups of %s yet. Take one with: rampart backup create %s\n", args[0], args[0])
					return
				}
				rows := make([][]string, 0, len(list))
				for _, b := range list {
					rows = append(rows, []string{strconv.FormatInt(b.ID, 10), b.CreatedAt.Local().Format("2006-01-02 15:04:05"), string(b.Kind),
						humanBytes(b.DataBytes), humanBytes(b.Size), strconv.Itoa(b.Files), b.SHA256[:min(12, len(b.SHA256))]})
				}
				table(w, []string{"ID", "TAKEN", "KIND", "DATA", "ARCHIVE", "FILES", "SHA256"}, rows)
			})
		},
	}
}

func newBackupRestoreCmd(cf *clientFlags) *cobra.Command {
	var id int64
	cmd := &cobra.Command{
		Use:   "restore NAME [--id ID]",
		Short: "Restore a backup: a deleted service comes back; a live one gets the backup's data",
		Long: `Restore a backup. A deleted service (within its grace period) comes back
with its configuration and the data of its final backup, or of --id. A live
service needs --id: its data is backed up first (pre-restore), then replaced
by that backup's. Every checksum is checked before anything changes.`,
		Example: "  rampart backup restore blog --id 12",
		Args:    exactArgs("NAME"),
	}
	cmd.Flags().Int64Var(&id, "id", 0, "the backup to restore (see rampart backup list NAME)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return restore(cmd, cf, args[0], id) }
	return cmd
}

func newBackupDownloadCmd(cf *clientFlags) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:     "download NAME ID [-o FILE]",
		Short:   "Download a backup's archive (tar + zstd) and check its SHA-256",
		Example: "  rampart backup download blog 12 -o blog.tar.zst\n  zstd -dc blog.tar.zst | tar -t",
		Args:    exactArgs("NAME", "ID"),
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default: NAME-ID.tar.zst in the current directory)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil || id <= 0 {
			return usageError{fmt.Errorf("backup ID %q is not a number: see rampart backup list %s", args[1], args[0])}
		}
		if out == "" {
			out = fmt.Sprintf("%s-%d.tar.zst", args[0], id)
		}
		cl, err := cf.client()
		if err != nil {
			return err
		}
		n, sum, err := downloadChecked(cmd.Context(), cl, args[0], id, out)
		if err != nil {
			return err
		}
		return output(cmd, map[string]any{"file": out, "bytes": n, "sha256": sum}, func(w io.Writer) {
			fmt.Fprintf(w, "Wrote %s (%s), sha256 %s: checked.\n", out, humanBytes(n), sum)
		})
	}
	return cmd
}

// downloadChecked downloads into a temp file beside path, checks the
// SHA-256 the server gave, and only then renames it into place.
func downloadChecked(ctx context.Context, cl *client.Client, name string, id int64, path string) (int64, string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".rampart-download-*")
	if err != nil {
		return 0, "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, want, err := cl.DownloadBackup(ctx, name, id, io.MultiWriter(tmp, h))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, "", err
	}
	got := fmt.Sprintf("%x", h.Sum(nil))
	if want != "" && got != want {
		return n, got, fmt.Errorf("the download's SHA-256 is %s, the server says %s: the archive was damaged on the way; try again", got, want)
	}
	return n, got, os.Rename(tmp.Name(), path)
}

// humanBytes is a size the way people say it.
func humanBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000_000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}
