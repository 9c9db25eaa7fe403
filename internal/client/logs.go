package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rampart-dev/rampart"
)

// LogsQuery says what Logs reads.
type LogsQuery struct {
	Service string // only this service's requests; "" for all the token's user may see
	Tail    int    // how many earlier entries come first, 0 to rampart.MaxLogTail
	Follow  bool   // keep reading new entries until ctx ends
}

// logIdleTimeout is how long a stream may stay silent: the server sends a
// heartbeat every rampart.LogHeartbeat, so three missed ones mean the
// connection is dead even if TCP has not noticed. A variable for tests.
var logIdleTimeout = 3 * rampart.LogHeartbeat

// maxLogLine bounds one line of the stream; an entry is a few KB at most.
const maxLogLine = 1 << 20

// Logs reads the edge log and calls fn with each event as it arrives: the
// entries, and notices of entries dropped because this client read too
// slowly. Without Follow it returns nil after the backlog. With Follow it
// runs until ctx ends (and returns ctx.Err()), the server ends the stream
// (an error with the server's reason), the connection fails or stays
// silent too long, or fn returns an error. The client's timeout bounds only
// the wait for the answer to begin; an http.Client given with
// WithHTTPClient must have no Timeout of its own, which would cut the
// stream off.
func (c *Client) Logs(ctx context.Context, q LogsQuery, fn func(rampart.LogEvent) error) error {
	v := url.Values{}
	if q.Service != "" {
		if _, err := servicePath(q.Service); err != nil {
			return err
		}
		v.Set("service", q.Service)
	}
	v.Set("tail", strconv.Itoa(q.Tail))
	if q.Follow {
		v.Set("follow", "true")
	}
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, c.server+rampart.APIPrefix+"logs?"+v.Encode(), nil)
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Accept", "application/x-ndjson")
	req.Header.Set("User-Agent", c.ua)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}

	// The client's timeout bounds the wait for the answer's status, not
	// the stream, which may rightly last for days.
	stop := func() bool { return true }
	if c.timeout > 0 {
		stop = time.AfterFunc(c.timeout, cancel).Stop
	}
	resp, err := c.hc.Do(req)
	if !stop() {
		if err == nil {
			resp.Body.Close()
		}
		return fmt.Errorf("rampart at %s did not answer within %s: is the server overloaded or stuck? check its log", c.server, c.timeout)
	}
	return c.readLogs(ctx, cancel, resp, err, q, fn)
}

func (c *Client) readLogs(ctx context.Context, cancel context.CancelFunc, resp *http.Response, err error, q LogsQuery, fn func(rampart.LogEvent) error) error {
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		if err != nil {
			return c.transportError(ctx, err)
		}
		return c.apiError(resp, data)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/x-ndjson" {
		return fmt.Errorf("the answer from %s to GET %slogs is not what rampart sends (Content-Type %q): is --server pointing at rampart?", c.server, rampart.APIPrefix, resp.Header.Get("Content-Type"))
	}

	var silent atomic.Bool
	idle := time.AfterFunc(logIdleTimeout, func() { silent.Store(true); cancel() })
	defer idle.Stop()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxLogLine)
	for sc.Scan() {
		idle.Reset(logIdleTimeout)
		line := sc.Bytes()
		if len(line) == 0 {
			continue // heartbeat
		}
		var ev rampart.LogEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			return fmt.Errorf("a line from %s is not what rampart sends (%v): is --server pointing at rampart?", c.server, err)
		}
		switch ev.Type {
		case rampart.LogEventEnd:
			return errors.New(ev.Message)
		case rampart.LogEventEntry:
			if ev.Entry == nil {
				continue
			}
		case rampart.LogEventDropped:
		default:
			continue // a kind of line this client does not know yet
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	err = sc.Err()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case silent.Load():
		return fmt.Errorf("rampart at %s sent nothing for %s, not even a heartbeat: the connection is dead; run the command again", c.server, logIdleTimeout)
	case errors.Is(err, bufio.ErrTooLong):
		return fmt.Errorf("a line from %s is longer than %d bytes, which rampart never sends: is --server pointing at rampart?", c.server, maxLogLine)
	case err != nil:
		return fmt.Errorf("lost the connection to rampart at %s: %w: is the server still running? run the command again", c.server, err)
	case q.Follow:
		return fmt.Errorf("rampart at %s closed the stream without saying why: is the server restarting? run the command again", c.server)
	}
	return nil
}
