package h2lane

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// recordConn is a net.Conn that keeps what is written to it, one entry
// per Write.
type recordConn struct {
	net.Conn
	writes [][]byte
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recordConn) SetWriteDeadline(time.Time) error { return nil }

// TestOutBufSmallFirst: control frames collect in the connection's own
// array, a pool buffer is taken only when they outgrow it (with what was
// collected carried over, in order) and goes back at the flush, which is
// one write.
func TestOutBufSmallFirst(t *testing.T) {
	rc := &recordConn{}
	c := &conn{s: &Server{}, nc: rc}
	c.bw.c = c
	o := &c.bw

	preface := bytes.Repeat([]byte{'p'}, 40)
	if _, err := o.Write(preface); err != nil {
		t.Fatal(err)
	}
	if o.bp != nil {
		t.Fatal("40 bytes took a pool buffer")
	}
	ack := bytes.Repeat([]byte{'a'}, outSmallSize-len(preface))
	_, _ = o.Write(ack)
	if o.bp != nil {
		t.Fatalf("%d bytes (the small array, full) took a pool buffer", outSmallSize)
	}
	body := bytes.Repeat([]byte{'b'}, 2048)
	_, _ = o.Write(body)
	if o.bp == nil {
		t.Fatal("a 2 KiB response did not move to a pool buffer")
	}
	if len(rc.writes) != 0 {
		t.Fatalf("%d writes before the flush", len(rc.writes))
	}
	if err := o.flush(); err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte{}, preface...), ack...), body...)
	if len(rc.writes) != 1 || !bytes.Equal(rc.writes[0], want) {
		t.Fatalf("flush wrote %d times; want one write of the %d bytes in order", len(rc.writes), len(want))
	}
	if o.bp != nil || len(o.b) != 0 {
		t.Fatal("the pool buffer was kept after the flush")
	}

	// After a flush, small writes use the array again.
	_, _ = o.Write([]byte("ping"))
	if o.bp != nil {
		t.Fatal("a small write after a flush took a pool buffer")
	}
	_ = o.flush()
	if got := rc.writes[len(rc.writes)-1]; string(got) != "ping" {
		t.Fatalf("second flush wrote %q", got)
	}
	if err := o.flush(); err != nil || len(rc.writes) != 2 {
		t.Fatalf("an empty flush wrote (%d writes, err %v)", len(rc.writes), err)
	}
}
