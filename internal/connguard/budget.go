package connguard

import (
	"fmt"
	"syscall"
)

// NoFile returns the process's limit on open file descriptors
// (RLIMIT_NOFILE; Go raises the soft limit to the hard one at start).
func NoFile() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("reading the file descriptor limit: %w", err)
	}
	return r.Cur, nil
}

// Plan is how a process's descriptors are shared.
type Plan struct {
	NoFile  uint64 // the process's limit
	Reserve int    // kept for the store, certificates, logs, DNS and the like
	Edge    Limits // the edge's HTTP and HTTPS listeners together
	Admin   Limits // the dashboard and API listener, and the debug one
}

// Budget shares nofile descriptors so that the caps are reached before the
// process runs out: a reserve (a sixteenth, at least 64) for everything that
// is not a client connection; up to 320 for the admin side, so that the
// dashboard and the API answer whatever the edge goes through; and the rest
// for the edge, whose connections count twice, since each may hold a
// connection to an upstream. Totals are soft caps, so they are set a
// fifth below what their hard ceiling may use (see Limits.Hard).
//
// edgeTotal is the configured edge total (limits.connections_total); 0
// derives it. A configured total the descriptors cannot carry is an error
// that says what to change. perClient is the per-client cap of the edge;
// the admin side's is at most a quarter of its total, so that four
// clients cannot fill it.
func Budget(nofile uint64, perClient, edgeTotal int) (Plan, error) {
	const maxAdmin = 320
	nofile = min(nofile, 1<<22) // RLIM_INFINITY and the like
	p := Plan{NoFile: nofile, Reserve: int(max(64, nofile/16))}
	rest := int(nofile) - p.Reserve
	if rest < 64 {
		return p, fmt.Errorf("the process may open only %d file descriptors, too few to serve: raise the limit (LimitNOFILE= in the systemd unit, ulimit -n in a shell) to at least 1024", nofile)
	}
	adminHard := min(maxAdmin, rest/8)
	p.Admin.Total = adminHard * 4 / 5
	p.Admin.PerClient = max(1, min(perClient, p.Admin.Total/4))
	edgeHard := (rest - adminHard) / 2
	if edgeTotal == 0 {
		p.Edge.Total = edgeHard * 4 / 5
	} else {
		p.Edge.Total = edgeTotal
		if need := 2*p.Edge.Hard() + adminHard + p.Reserve; uint64(need) > nofile {
			return p, fmt.Errorf("limits.connections_total: %d connections may need about %d file descriptors, but the process may open only %d: raise the limit (LimitNOFILE= in the systemd unit, ulimit -n in a shell) or lower limits.connections_total (0 derives it from the limit: %d here)",
				edgeTotal, need, nofile, edgeHard*4/5)
		}
	}
	p.Edge.PerClient = perClient
	return p, nil
}
