package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/rampart-dev/rampart/internal/store"
)

// An operator command pointed at a data directory that does not exist, or
// that holds no database, says so, names the directory, and creates
// nothing: before, it made an empty database there and then reported that
// the account did not exist.
func TestOperatorCommandOnMissingDataDir(t *testing.T) {
	base := t.TempDir()
	empty := filepath.Join(base, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir  string
		want string
	}{
		{filepath.Join(base, "nope"), "does not exist"},
		{empty, "holds no rampart database"},
	} {
		for _, args := range [][]string{
			{"token", "create", "--email", "ada@example.com"},
			{"user", "create", "--email", "ada@example.com", "--password-stdin"},
		} {
			var stdout, stderr bytes.Buffer
			args := append(args, "--data", tc.dir)
			code := run(t.Context(), args, strings.NewReader("long enough password\n"), &stdout, &stderr)
			if code != 1 || !strings.Contains(stderr.String(), tc.want) || !strings.Contains(stderr.String(), tc.dir) {
				t.Errorf("rampart %s: exit %d, stderr %q; want 1 and %q naming the directory", strings.Join(args, " "), code, stderr.String(), tc.want)
			}
		}
		if _, err := os.Stat(filepath.Join(tc.dir, "rampart.db")); !os.IsNotExist(err) {
			t.Errorf("a database was created in %s", tc.dir)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "nope")); !os.IsNotExist(err) {
		t.Error("the missing data directory was created")
	}
}

// A token for an account that does not exist names the directory looked in.
func TestTokenForUnknownUserNamesTheDirectory(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(t.Context(), store.DefaultDSN(dir))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, _, stderr := runArgs(t, "token", "create", "--data", dir, "--email", "nobody@example.com")
	if code != 1 || !strings.Contains(stderr, `no user with email "nobody@example.com" in `+dir) || !strings.Contains(stderr, "rampart user create --data "+dir) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// unbuilt lists the features that are not there yet, with the words that
// name them. When one lands, it leaves this list, and its texts may claim
// it.
var unbuilt = map[string]*regexp.Regexp{
	// The relay delivers with opportunistic STARTTLS; it does not look up
	// or enforce a receiver's MTA-STS policy, nor DANE.
	"MTA-STS": regexp.MustCompile(`(?i)\bMTA-STS\b|\bDANE\b`),
}

// notYet marks a sentence that names a feature as coming, not as present.
var notYet = regexp.MustCompile(`(?i)\byet\b|coming|being built|will `)

// TestTextsClaimOnlyWhatIsThere: no help text and no shipped file says that
// rampart does something it does not do yet. A sentence may name such a
// feature only to say that it is not there yet.
func TestTextsClaimOnlyWhatIsThere(t *testing.T) {
	texts := map[string]string{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		texts["rampart "+c.CommandPath()+" --help"] = c.Short + ". " + c.Long + ". " + c.Example + ". " + c.Flags().FlagUsages()
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(nil, nil, nil))
	for _, f := range []string{"../../dist/rampart.service", "../../dist/rampart.yaml", "../../Dockerfile"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts[f] = string(b)
	}
	for where, text := range texts {
		// Sentences, across the line breaks of comments and help texts.
		flat := strings.Join(strings.Fields(strings.ReplaceAll(text, "#", " ")), " ")
		for _, sentence := range regexp.MustCompile(`[.:;]\s`).Split(flat, -1) {
			for feature, re := range unbuilt {
				if re.MatchString(sentence) && !notYet.MatchString(sentence) {
					t.Errorf("%s claims %s, which is not there yet: %q", where, feature, sentence)
				}
			}
		}
	}
}
