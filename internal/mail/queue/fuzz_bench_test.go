package queue

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzRecover feeds arbitrary bytes as a journal segment: Open must never
// panic, and whatever it recovers must be deliverable.
func FuzzRecover(f *testing.F) {
	m := &Message{ID: "id1", Envelope: Envelope{From: "a@b"}, Recipients: []Recipient{{Addr: "c@d"}}}
	rec, _ := encodeMessage(m, []byte("body"))
	f.Add(rec)
	f.Add(append(rec, encodeUpdate(&update{ID: "id1", Attempts: 1, Index: []int{0}, Rcpt: []Recipient{{Addr: "c@d", State: Sent}}})...))
	f.Add(rec[:len(rec)-2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		q, err := Open(Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		for _, m := range q.List() {
			if len(m.Recipients) == 0 || m.finished() {
				t.Fatalf("recovered an undeliverable message: %+v", m)
			}
		}
	})
}

// FuzzDecode runs the record decoders on arbitrary payloads.
func FuzzDecode(f *testing.F) {
	m := &Message{ID: "x", Recipients: []Recipient{{Addr: "c@d", Reply: "ok"}}}
	rec, _ := encodeMessage(m, []byte("data"))
	f.Add(rec[headerLen+1:])
	f.Add(encodeUpdate(&update{ID: "x", Index: []int{0}, Rcpt: []Recipient{{Addr: "c@d"}}})[headerLen+1:])
	f.Fuzz(func(t *testing.T, p []byte) {
		if m, at, err := decodeMessage(p); err == nil && (at > len(p) || m.Size != int64(len(p)-at)) {
			t.Fatalf("data offset %d, size %d, payload %d", at, m.Size, len(p))
		}
		if u, err := decodeUpdate(p); err == nil && len(u.Index) != len(u.Rcpt) {
			t.Fatal("update index and recipients differ in length")
		}
	})
}

// BenchmarkPut measures messages per second made durable with 1, 8 and 64
// concurrent clients, and how many fsyncs each message cost.
func BenchmarkPut(b *testing.B) {
	data := make([]byte, 4<<10)
	for _, clients := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			q, err := Open(Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			var syncs atomic.Int64
			q.fileSync = func(f *os.File) error { syncs.Add(1); return f.Sync() }
			var next atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			b.ResetTimer()
			for range clients {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := q.Put(context.Background(), Envelope{Service: "s", To: []string{"a@b"}}, data); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			b.ReportMetric(float64(syncs.Load())/float64(b.N), "fsyncs/msg")
		})
	}
}

// BenchmarkFsync measures one 1 KiB write plus fsync on this disk.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "f"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1024)
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}
