package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// output prints v as JSON with -o json, else calls human to print it for a
// person. Every command that prints a result goes through here, so -o json
// works everywhere.
func output(cmd *cobra.Command, v any, human func(io.Writer)) error {
	w := cmd.OutOrStdout()
	switch f, _ := cmd.Flags().GetString("output"); f {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "", "text":
		human(w)
		return nil
	default:
		return usageError{fmt.Errorf("-o %q is unknown: use text or json", f)}
	}
}

// table prints rows under a header (nil: none), columns aligned.
func table(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	if header != nil {
		rows = append([][]string{header}, rows...)
	}
	for _, r := range rows {
		for i, c := range r {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
