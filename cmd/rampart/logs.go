package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/client"
)

func newLogsCmd(cf *clientFlags) *cobra.Command {
	var q client.LogsQuery
	cmd := &cobra.Command{
		Use:   "logs [--service NAME] [-n N] [-f]",
		Short: "Show the edge's recent requests and the output of services rampart runs; -f follows",
		Long: `Print the most recent requests the edge handled, one line each: time (UTC),
service, method, path, status, response size, duration, client IP, what the
output cache did, and why a request went wrong when it did (the upstream's
error, "rate-limited" for a 429). With -f, keep printing new requests as they
finish until Ctrl+C.

For a service rampart runs (runtime exec or compose), what its process
writes is in the same log, a line each, marked stdout or stderr where a
request has its method.

Admins see every service and requests for hosts that no service has; members
see their own services. The edge keeps the last 1,000 requests of each
service in memory. With -o json each request is one JSON object per line
(NDJSON) on standard output; notices go to standard error.`,
		Example: `  rampart logs --service blog -f
  rampart logs -n 200
  rampart logs --service blog -f -o json | jq -c 'select(.status >= 500)'`,
		Args: exactArgs(),
	}
	f := cmd.Flags()
	f.StringVar(&q.Service, "service", "", "only this service's requests")
	f.IntVarP(&q.Tail, "tail", "n", rampart.DefaultLogTail, fmt.Sprintf("how many recent requests to print first (0-%d)", rampart.MaxLogTail))
	f.BoolVarP(&q.Follow, "follow", "f", false, "keep printing new requests until Ctrl+C")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		format, _ := cmd.Flags().GetString("output")
		if format != "text" && format != "json" && format != "" {
			return usageError{fmt.Errorf("-o %q is unknown: use text or json", format)}
		}
		if q.Tail < 0 || q.Tail > rampart.MaxLogTail {
			return usageError{fmt.Errorf("-n %d is out of range: use 0 to %d", q.Tail, rampart.MaxLogTail)}
		}
		cl, err := cf.client()
		if err != nil {
			return err
		}
		out, notices := cmd.OutOrStdout(), cmd.ErrOrStderr()
		enc := json.NewEncoder(out)
		var p linePrinter
		err = cl.Logs(cmd.Context(), q, func(ev rampart.LogEvent) error {
			switch {
			case ev.Type == rampart.LogEventDropped && format == "json":
				fmt.Fprintf(notices, "rampart: %s\n", ev.Message)
			case ev.Type == rampart.LogEventDropped:
				fmt.Fprintf(out, "… %s\n", ev.Message)
			case format == "json":
				return enc.Encode(ev.Entry)
			default:
				p.print(out, ev.Entry)
			}
			return nil
		})
		if cmd.Context().Err() != nil {
			return nil // Ctrl+C: the way to stop -f, not a failure
		}
		return err
	}
	return cmd
}

// linePrinter prints entries as aligned lines. A stream cannot be laid out
// as a table, so the service column widens as longer names come, and the
// path column is minPathColumn wide, widening up to maxPathColumn; a
// longer path pushes the rest of its line along.
type linePrinter struct {
	service, path int
}

const minPathColumn, maxPathColumn = 24, 40

func (p *linePrinter) print(w io.Writer, e *rampart.LogEntry) {
	service := e.Service
	if service == "" {
		service = "-"
	}
	p.service = max(p.service, len(service))
	if e.Source == "app" {
		// A line the service's own process wrote: marked by its stream
		// where a request has its method, then the text (escaped: the
		// service wrote it, and a terminal must not act on it).
		fmt.Fprintf(w, "%s  %-*s  %-6s  %s\n", e.Time.UTC().Format(time.RFC3339), p.service, service, e.Stream, printable(e.Message))
		return
	}
	cache, client := e.Cache, e.ClientIP
	if cache == "" {
		cache = "-"
	}
	if client == "" {
		client = "-" // a background refresh: no client
	}
	path := printable(e.Path)
	p.path = max(p.path, minPathColumn, min(len(path), maxPathColumn))
	line := fmt.Sprintf("%s  %-*s  %-6s  %-*s  %3d  %6s  %6s  %-15s  %-6s",
		e.Time.UTC().Format(time.RFC3339), p.service, service, printable(e.Method), p.path, path, e.Status,
		e.Size(), e.Took(), client, cache)
	reason := e.Reason()
	if e.Service == "" {
		reason = "no service has the host " + e.Host
	}
	if reason != "" {
		line += "  " + printable(reason)
	}
	fmt.Fprintln(w, strings.TrimRight(line, " "))
}

// printable escapes what a terminal would act on instead of showing:
// control characters (an ESC starts a sequence that can rewrite the screen,
// set the window title or worse), C1 controls, and bytes that are not
// UTF-8. Paths, methods and hosts come from whoever sent the request, so
// they are never written raw.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, size := utf8.DecodeRuneInString(s[i:])
		w = size
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsControl(r):
			if r < 0x80 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
