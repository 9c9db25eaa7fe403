package queue

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"
)

// A journal record on disk is
//
//	length uint32 | crc uint32 | type byte | payload
//
// where length counts the type byte and the payload, and the CRC (Castagnoli)
// covers the same bytes. A reader that meets a short, oversized or
// mismatching record treats it and everything after it in that segment as a
// torn tail: a crash may cut a write anywhere, and nothing after the cut was
// ever acknowledged.
const (
	headerLen = 8

	recMessage byte = 1 // full message state followed by its data
	recUpdate  byte = 2 // the outcome of one delivery attempt

	// maxString bounds every string field a reader will accept, so a corrupt
	// length cannot make recovery allocate gigabytes.
	maxString = 64 << 10
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var errCorrupt = errors.New("queue: corrupt journal record")

// encoder appends fields to a byte slice.
type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.varint(0)
		return
	}
	e.varint(t.UnixNano())
}

// decoder reads fields from a byte slice; the first error sticks, so callers
// check it once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > maxString || n > uint64(len(d.b)) {
		d.err = errCorrupt
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time {
	v := d.varint()
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

func (d *decoder) small(limit uint64) int {
	v := d.uvarint()
	if v > limit {
		d.err = errCorrupt
		return 0
	}
	return int(v)
}

// frame wraps a payload of type t into a complete record.
func frame(t byte, payload []byte) []byte {
	rec := make([]byte, headerLen+1+len(payload))
	binary.LittleEndian.PutUint32(rec[0:], uint32(1+len(payload)))
	rec[headerLen] = t
	copy(rec[headerLen+1:], payload)
	binary.LittleEndian.PutUint32(rec[4:], crc32.Checksum(rec[headerLen:], crcTable))
	return rec
}

func encodeRecipient(e *encoder, r Recipient) {
	e.str(r.Addr)
	e.uvarint(uint64(r.State))
	e.uvarint(uint64(r.Code))
	e.str(r.Reply)
	e.uvarint(uint64(r.Attempts))
	e.time(r.Last)
}

func decodeRecipient(d *decoder) Recipient {
	var r Recipient
	r.Addr = d.str()
	r.State = State(d.small(uint64(Failed)))
	r.Code = d.small(999)
	r.Reply = d.str()
	r.Attempts = d.small(1 << 30)
	r.Last = d.time()
	return r
}

// encodeMessage returns a message record: the full state of m followed by its
// data. It also returns where the data starts inside the record, so the
// journal can remember the offset and read the body back at delivery time.
func encodeMessage(m *Message, data []byte) (rec []byte, dataAt int) {
	var e encoder
	e.str(m.ID)
	e.str(m.Envelope.Service)
	e.str(m.Envelope.From)
	e.time(m.Received)
	e.uvarint(uint64(m.Attempts))
	e.time(m.Next)
	e.uvarint(uint64(len(m.Recipients)))
	for _, r := range m.Recipients {
		encodeRecipient(&e, r)
	}
	dataAt = headerLen + 1 + len(e.b)
	e.b = append(e.b, data...)
	return frame(recMessage, e.b), dataAt
}

// decodeMessage parses a message payload (without type byte). It returns the
// message and the offset of its data inside the payload.
func decodeMessage(p []byte) (*Message, int, error) {
	d := decoder{b: p}
	m := &Message{}
	m.ID = d.str()
	m.Envelope.Service = d.str()
	m.Envelope.From = d.str()
	m.Received = d.time()
	m.Attempts = d.small(1 << 30)
	m.Next = d.time()
	n := d.small(MaxRecipients)
	for i := 0; i < n && d.err == nil; i++ {
		r := decodeRecipient(&d)
		m.Recipients = append(m.Recipients, r)
		m.Envelope.To = append(m.Envelope.To, r.Addr)
	}
	if d.err != nil {
		return nil, 0, d.err
	}
	if m.ID == "" || n == 0 {
		return nil, 0, errCorrupt
	}
	m.Size = int64(len(d.b))
	return m, len(p) - len(d.b), nil
}

// update is the durable outcome of one delivery attempt: new attempt count
// and next time for the message, and the new state of the recipients that
// changed (by index).
type update struct {
	ID       string
	Attempts int
	Next     time.Time
	Index    []int
	Rcpt     []Recipient
}

func encodeUpdate(u *update) []byte {
	var e encoder
	e.str(u.ID)
	e.uvarint(uint64(u.Attempts))
	e.time(u.Next)
	e.uvarint(uint64(len(u.Index)))
	for i, idx := range u.Index {
		e.uvarint(uint64(idx))
		encodeRecipient(&e, u.Rcpt[i])
	}
	return frame(recUpdate, e.b)
}

func decodeUpdate(p []byte) (*update, error) {
	d := decoder{b: p}
	u := &update{}
	u.ID = d.str()
	u.Attempts = d.small(1 << 30)
	u.Next = d.time()
	n := d.small(MaxRecipients)
	for i := 0; i < n && d.err == nil; i++ {
		u.Index = append(u.Index, d.small(MaxRecipients-1))
		u.Rcpt = append(u.Rcpt, decodeRecipient(&d))
	}
	if d.err != nil {
		return nil, d.err
	}
	return u, nil
}
