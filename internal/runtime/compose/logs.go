package compose

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rampart-dev/rampart/internal/runtime"
)

// follower is one `docker logs -f` of one container. Following each
// container with docker logs, rather than the project with `compose logs`,
// keeps stdout and stderr apart and gives each line Docker's own timestamp.
type follower struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// follow starts a follower for each running container of cs that has
// none. Start, Resume and Observe call it, so a container that compose
// recreated or Docker restarted is picked up again within one Observe.
//
// A follower reads from where the last one of the same container stopped;
// for a container never followed, from its creation when the last Start
// made it, else from the Start (or from now, when rampart restarted since):
// no line is read twice and none a follower could have read is lost.
func (d *Driver) follow(u *unit, cs []container) {
	if d.logs == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	exists := map[string]bool{}
	for _, c := range cs {
		exists[c.ID] = true
	}
	for key := range u.lastSeen { // forget removed containers
		if id, _, _ := strings.Cut(key, "/"); !exists[id] {
			delete(u.lastSeen, key)
		}
	}
	for _, c := range cs {
		if c.State.Status != "running" && c.State.Status != "paused" {
			continue
		}
		if _, ok := u.followers[c.ID]; ok {
			continue
		}
		out, seenOut := u.lastSeen[c.ID+"/stdout"]
		errs, seenErr := u.lastSeen[c.ID+"/stderr"]
		var since time.Time
		if seenOut && seenErr {
			since = out
			if errs.Before(since) {
				since = errs
			}
		} else {
			switch {
			case u.started.IsZero():
				since = time.Now()
			case c.Created.After(u.started):
				since = c.Created
			default:
				since = u.started
			}
			// The line at exactly since is new: filter from just before.
			since = since.Add(-time.Nanosecond)
			u.lastSeen[c.ID+"/stdout"] = since
			u.lastSeen[c.ID+"/stderr"] = since
		}
		ctx, cancel := context.WithCancel(context.Background())
		f := &follower{cancel: cancel, done: make(chan struct{})}
		u.followers[c.ID] = f
		u.wg.Add(1)
		go d.runFollower(ctx, u, c.ID, since, f)
	}
}

func (d *Driver) runFollower(ctx context.Context, u *unit, id string, since time.Time, f *follower) {
	defer u.wg.Done()
	defer close(f.done)
	defer func() {
		u.mu.Lock()
		if u.followers[id] == f {
			delete(u.followers, id)
		}
		u.mu.Unlock()
		f.cancel()
	}()
	argv := append(d.docker(), "logs", "-f", "--timestamps",
		"--since", fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()), id)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = commandEnv()
	cmd.WaitDelay = 2 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return
	}
	if err := cmd.Start(); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.readLines(u, id, "stderr", stderr)
	}()
	d.readLines(u, id, "stdout", stdout)
	<-done
	_ = cmd.Wait() // it ends when the container stops or ctx is cancelled
}

// readLines hands each line of r to the Logs callback, cut at
// runtime.MaxLogLine: the rest of a longer line is read and dropped, so a
// container writing without newlines costs a bounded buffer.
func (d *Driver) readLines(u *unit, id, stream string, r io.Reader) {
	// Room for the timestamp docker puts before each line.
	const stampLen = len("2006-01-02T15:04:05.000000000Z07:00 ")
	br := bufio.NewReaderSize(r, runtime.MaxLogLine+stampLen+1)
	for {
		line, err := br.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		if len(line) > 0 {
			d.emit(u, id, stream, line)
		}
		for full { // drop the rest of an overlong line
			_, err = br.ReadSlice('\n')
			full = errors.Is(err, bufio.ErrBufferFull)
		}
		if err != nil {
			return
		}
	}
}

func (d *Driver) emit(u *unit, id, stream string, raw []byte) {
	text := strings.TrimRight(string(raw), "\r\n")
	at, stamped := d.now(), false
	if stamp, rest, ok := strings.Cut(text, " "); ok {
		if t, err := time.Parse(time.RFC3339Nano, stamp); err == nil {
			at, text, stamped = t, rest, true
		}
	}
	key := id + "/" + stream
	u.mu.Lock()
	if stamped {
		if last, ok := u.lastSeen[key]; ok && !at.After(last) {
			u.mu.Unlock()
			return // read already, by an earlier follower of this container
		}
		u.lastSeen[key] = at
	}
	name, sid := u.name, u.id
	u.mu.Unlock()
	if len(text) > runtime.MaxLogLine {
		text = text[:runtime.MaxLogLine]
		for i := 0; i < utf8.UTFMax-1 && text != ""; i++ { // do not end on half a character
			if r, size := utf8.DecodeLastRuneInString(text); r != utf8.RuneError || size != 1 {
				break
			}
			text = text[:len(text)-1]
		}
	}
	d.logs(runtime.LogLine{Time: at, ServiceID: sid, Service: name, Stream: stream, Text: text})
}

// stopFollowers ends the unit's followers and waits for them.
func (d *Driver) stopFollowers(u *unit) {
	u.mu.Lock()
	for _, f := range u.followers {
		f.cancel()
	}
	u.mu.Unlock()
	u.wg.Wait()
}
