package queue

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// segment is one journal file. Segments are numbered in write order; replay
// goes through them in that order, so a later record wins.
type segment struct {
	num  int
	f    *os.File
	size int64
	live int // entries whose current message record is in this segment
}

func segName(num int) string { return fmt.Sprintf("seg-%012d.log", num) }

func parseSegName(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "seg-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".log")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// syncDir fsyncs the queue directory so that a created or removed segment
// survives a crash.
func (q *Queue) syncDir() error {
	d, err := os.Open(q.o.Dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// appendLocked writes rec at the end of the current segment, starting a new
// segment first when the current one is full. It returns the segment, the
// record's offset and its sequence number for commit. Call with q.mu held.
func (q *Queue) appendLocked(rec []byte) (*segment, int64, uint64, error) {
	if q.broken != nil {
		return nil, 0, 0, q.broken
	}
	if q.cur.size > 0 && q.cur.size+int64(len(rec)) > q.o.SegmentBytes {
		if err := q.rollLocked(); err != nil {
			q.broken = fmt.Errorf("queue: start a new journal segment: %w; check the disk and restart", err)
			return nil, 0, 0, q.broken
		}
	}
	seg := q.cur
	off := seg.size
	if _, err := seg.f.WriteAt(rec, off); err != nil {
		// Cut the partial record so later appends do not sit behind garbage.
		if terr := seg.f.Truncate(off); terr != nil {
			q.broken = fmt.Errorf("queue: journal write failed (%v) and could not be undone: %w; check the disk and restart", err, terr)
			return nil, 0, 0, q.broken
		}
		return nil, 0, 0, fmt.Errorf("queue: journal write: %w (disk full?)", err)
	}
	seg.size += int64(len(rec))
	q.written++
	return seg, off, q.written, nil
}

// rollLocked fsyncs the current segment and starts the next one. Records
// written so far are durable afterwards, which keeps commit's bookkeeping
// simple: only the current segment ever needs an fsync.
func (q *Queue) rollLocked() error {
	if q.cur != nil {
		if err := q.fileSync(q.cur.f); err != nil {
			return err
		}
	}
	num := 1
	if q.cur != nil {
		num = q.cur.num + 1
	}
	f, err := os.OpenFile(filepath.Join(q.o.Dir, segName(num)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := q.syncDir(); err != nil {
		f.Close()
		return err
	}
	s := &segment{num: num, f: f}
	q.segs[num] = s
	q.cur = s
	q.compact = true
	return nil
}

// commit returns once record seq is on disk. The first caller to arrive
// fsyncs everything written so far; callers that queued up behind it find
// their record already covered and return without an fsync of their own.
func (q *Queue) commit(seq uint64) error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	if q.synced >= seq {
		return nil
	}
	q.mu.Lock()
	if q.broken != nil {
		err := q.broken
		q.mu.Unlock()
		return err
	}
	f, upto := q.cur.f, q.written
	q.mu.Unlock()
	if err := q.fileSync(f); err != nil {
		// After a failed fsync the kernel may have dropped dirty pages: no
		// later fsync can vouch for them, so stop accepting.
		q.mu.Lock()
		q.broken = fmt.Errorf("queue: fsync failed: %w; mail is no longer accepted, check the disk and restart", err)
		err = q.broken
		q.mu.Unlock()
		return err
	}
	q.synced = upto
	return nil
}

// recover replays every segment in order, then starts a fresh segment for
// new records, so a torn tail of the last run is never appended to.
func (q *Queue) recover() error {
	names, err := os.ReadDir(q.o.Dir)
	if err != nil {
		return fmt.Errorf("queue: read directory: %w", err)
	}
	var nums []int
	for _, de := range names {
		if n, ok := parseSegName(de.Name()); ok && de.Type().IsRegular() {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	for _, n := range nums {
		f, err := os.OpenFile(filepath.Join(q.o.Dir, segName(n)), os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("queue: open journal segment: %w", err)
		}
		s := &segment{num: n, f: f}
		q.segs[n] = s
		q.cur = s
		if err := q.replay(s); err != nil {
			return err
		}
	}
	for id, e := range q.entries {
		if e.msg.finished() {
			e.seg.live--
			delete(q.entries, id)
			continue
		}
		e.committed = true
	}
	if err := q.rollLocked(); err != nil {
		return fmt.Errorf("queue: start journal segment: %w", err)
	}
	q.compact = false
	if err := q.dropDeadSegmentsLocked(); err != nil {
		return err
	}
	return nil
}

// replay applies the records of one segment. It stops at the first record
// that is torn or corrupt: that is where the last write of a crash ended.
func (q *Queue) replay(s *segment) error {
	st, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("queue: stat journal segment: %w", err)
	}
	end := st.Size()
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, end), 64<<10)
	var hdr [headerLen]byte
	var buf []byte
	var off int64
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:]))
		if n < 1 || n > end-off-headerLen {
			break
		}
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			break
		}
		if crc32.Checksum(buf, crcTable) != binary.LittleEndian.Uint32(hdr[4:]) {
			break
		}
		if err := q.apply(s, off, buf); err != nil {
			break
		}
		off += headerLen + n
	}
	s.size = off
	if off < end {
		q.log.Warn("queue: ignoring torn or corrupt journal tail", "segment", filepath.Base(s.f.Name()),
			"offset", off, "bytes", end-off)
	}
	return nil
}

// apply replays one intact record at offset off of segment s.
func (q *Queue) apply(s *segment, off int64, rec []byte) error {
	switch rec[0] {
	case recMessage:
		m, dataAt, err := decodeMessage(rec[1:])
		if err != nil {
			return err
		}
		if old, ok := q.entries[m.ID]; ok {
			old.seg.live--
		}
		q.entries[m.ID] = &entry{msg: *m, seg: s, dataOff: off + headerLen + 1 + int64(dataAt)}
		s.live++
	case recUpdate:
		u, err := decodeUpdate(rec[1:])
		if err != nil {
			return err
		}
		if e, ok := q.entries[u.ID]; ok {
			applyUpdate(&e.msg, u)
		}
		// An update for an unknown message belongs to one whose segment
		// was already removed because it had finished.
	default:
		return errors.New("queue: unknown journal record type")
	}
	return nil
}

func applyUpdate(m *Message, u *update) {
	m.Attempts = u.Attempts
	m.Next = u.Next
	for i, idx := range u.Index {
		if idx < len(m.Recipients) && u.Rcpt[i].Addr == m.Recipients[idx].Addr {
			m.Recipients[idx] = u.Rcpt[i]
		}
	}
}

// dropDeadSegmentsLocked removes the segments older than the oldest one that
// still holds a live message record. Only a prefix may go: a younger segment
// can hold outcome records of a live message written in an older one.
func (q *Queue) dropDeadSegmentsLocked() error {
	minLive := q.cur.num
	for _, e := range q.entries {
		if e.seg.num < minLive {
			minLive = e.seg.num
		}
	}
	removed := false
	for num, s := range q.segs {
		if num >= minLive {
			continue
		}
		s.f.Close()
		if err := os.Remove(s.f.Name()); err != nil {
			return fmt.Errorf("queue: remove finished journal segment: %w", err)
		}
		delete(q.segs, num)
		removed = true
	}
	if removed {
		return q.syncDir()
	}
	return nil
}

// compactNow copies the live messages of old segments into the current one
// (with their present state), makes the copies durable and then removes the
// old segments. Messages being delivered stay where they are until the next
// compaction, because a worker is reading their data.
func (q *Queue) compactNow() error {
	q.mu.Lock()
	if q.closed || q.broken != nil {
		q.mu.Unlock()
		return nil
	}
	q.compact = false
	cur := q.cur.num
	var seq uint64
	for _, e := range q.entries {
		if e.seg.num >= cur || e.inflight || !e.committed {
			continue
		}
		data, err := readData(e.seg, e.dataOff, e.msg.Size)
		if err != nil {
			q.mu.Unlock()
			return err
		}
		rec, dataAt := encodeMessage(&e.msg, data)
		seg, off, s, err := q.appendLocked(rec)
		if err != nil {
			q.mu.Unlock()
			return err
		}
		e.seg.live--
		e.seg, e.dataOff = seg, off+int64(dataAt)
		seg.live++
		seq = s
	}
	q.mu.Unlock()
	if seq > 0 {
		if err := q.commit(seq); err != nil {
			return err
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	return q.dropDeadSegmentsLocked()
}
