package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// unbuilt lists the features that are not there yet, with the words that
// name them. When one lands, it leaves this list, and its texts may claim
// it.
var unbuilt = map[string]*regexp.Regexp{
	"firewall":               regexp.MustCompile(`(?i)firewall|nftables`),
	"SSH keys":               regexp.MustCompile(`(?i)ssh[ -]key|authorized_keys`),
	"multi-factor login":     regexp.MustCompile(`(?i)multi-factor|two-factor|\bmfa\b|totp`),
	"SMTP relay":             regexp.MustCompile(`(?i)smtp`),
	"termination protection": regexp.MustCompile(`(?i)termination protection`),
	"backups":                regexp.MustCompile(`(?i)\bbackups?\b`),
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
