package backup_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/backup"
)

// benchSize reads RAMPART_BENCH_BACKUP_SIZE ("1GiB" by default; "256MiB",
// "64MiB", or plain bytes).
func benchSize(b *testing.B) int64 {
	s := os.Getenv("RAMPART_BENCH_BACKUP_SIZE")
	if s == "" {
		return 1 << 30
	}
	mult := int64(1)
	for suf, m := range map[string]int64{"GiB": 1 << 30, "MiB": 1 << 20, "KiB": 1 << 10} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("RAMPART_BENCH_BACKUP_SIZE=%q: want a size such as 1GiB, 256MiB or 1048576", os.Getenv("RAMPART_BENCH_BACKUP_SIZE"))
	}
	return n * mult
}

// benchData returns a data directory of about size bytes of mixed content,
// generated once and cached under os.TempDir: a third random bytes
// (incompressible: media, encrypted blobs), a third text (JSON documents
// and log lines), a third repetitive binary with runs of zeros (database
// pages, preallocated files). Each third is split into many small files,
// some medium ones and a few large ones, in nested directories.
func benchData(b *testing.B, size int64) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("rampart-bench-backup-%d", size))
	done := filepath.Join(dir, ".complete")
	if _, err := os.Stat(done); err == nil {
		return filepath.Join(dir, "data")
	}
	os.RemoveAll(dir)
	b.Logf("generating %d bytes of bench data in %s (once)", size, dir)
	start := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	chacha := rand.NewChaCha8([32]byte{7})
	classes := []struct {
		name string
		fill func(p []byte)
	}{
		{"random", func(p []byte) { chacha.Read(p) }},
		{"text", func(p []byte) { fillText(rng, p) }},
		{"binary", func(p []byte) { fillBinary(rng, p) }},
	}
	buf := make([]byte, 64<<20)
	for _, c := range classes {
		budget := size / 3
		// A quarter in small files, a quarter in medium, half in large.
		plans := []struct{ share, lo, hi int64 }{{4, 1 << 10, 64 << 10}, {4, 1 << 20, 4 << 20}, {2, 16 << 20, 64 << 20}}
		for pi, pl := range plans {
			left := budget / pl.share
			for i := 0; left > 0; i++ {
				n := min(pl.lo+rng.Int64N(pl.hi-pl.lo), left)
				left -= n
				p := filepath.Join(dir, "data", c.name, fmt.Sprintf("kind%d", pi), fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d", i))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					b.Fatal(err)
				}
				c.fill(buf[:n])
				if err := os.WriteFile(p, buf[:n], 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated in %v", time.Since(start).Round(time.Millisecond))
	return filepath.Join(dir, "data")
}

var words = strings.Fields("GET POST /api/v1/users /static/app.js 200 404 500 user_id session ok error timeout latency_ms request upstream cache hit miss rampart blog ghost postgres select insert update")

func fillText(rng *rand.Rand, p []byte) {
	out := p[:0]
	for len(out) < len(p) {
		var line string
		if rng.IntN(2) == 0 {
			line = fmt.Sprintf(`{"ts":"2026-12-05T11:%02d:%02d.%03dZ","level":"info","msg":%q,"user_id":%d,"latency_ms":%d}`+"\n",
				rng.IntN(60), rng.IntN(60), rng.IntN(1000), words[rng.IntN(len(words))]+" "+words[rng.IntN(len(words))], rng.IntN(100000), rng.IntN(2000))
		} else {
			line = fmt.Sprintf("10.0.%d.%d - - [05/Dec/2026:11:%02d:%02d +0000] \"%s %s HTTP/1.1\" %s %d\n",
				rng.IntN(256), rng.IntN(256), rng.IntN(60), rng.IntN(60), words[rng.IntN(2)], words[2+rng.IntN(2)], words[4+rng.IntN(3)], rng.IntN(50000))
		}
		out = append(out, line...)
	}
	copy(p, out[:len(p)])
}

func fillBinary(rng *rand.Rand, p []byte) {
	page := make([]byte, 4096)
	for off := 0; off < len(p); off += len(page) {
		clear(page)
		switch rng.IntN(3) {
		case 0: // zero page
		case 1: // sparse records
			for j := 0; j < 16; j++ {
				page[rng.IntN(4096)] = byte(rng.Uint32())
			}
		case 2: // repeated structure with counters
			for j := 0; j+16 <= len(page); j += 16 {
				copy(page[j:], "ROWHEADER")
				page[j+9] = byte(j)
				page[j+10] = byte(rng.IntN(4))
			}
		}
		copy(p[off:], page)
	}
}

func dirBytes(b *testing.B, dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fi, _ := d.Info()
			n += fi.Size()
		}
		return nil
	})
	return n
}

// BenchmarkBackup measures Write into a Local store (fsync included) and
// Extract back from it, on the cached mixed data set. Run with
//
//	go test -run '^$' -bench . -benchtime 1x ./internal/backup/
func BenchmarkBackup(b *testing.B) {
	size := benchSize(b)
	data := benchData(b, size)
	total := dirBytes(b, data)
	work := b.TempDir()
	store, err := backup.NewLocal(filepath.Join(work, "store"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	config := []byte(`{"name":"bench"}`)
	info := backup.Info{Service: "bench", ServiceID: 1, Kind: "manual", CreatedAt: time.Now()}
	key := backup.Key(1, info.CreatedAt, info.Kind)
	var sum backup.Sum

	b.Run("Write", func(b *testing.B) {
		var stored int64
		for i := 0; i < b.N; i++ {
			pr, pw := io.Pipe()
			go func() {
				_, s, err := backup.Write(ctx, pw, data, config, info)
				sum = s
				pw.CloseWithError(err)
			}()
			n, err := store.Put(ctx, key, pr)
			if err != nil {
				b.Fatal(err)
			}
			stored = n
		}
		b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
		b.ReportMetric(float64(total)/float64(stored), "ratio")
		b.ReportMetric(float64(stored)/1e6, "archive-MB")
	})
	b.Run("WriteDiscard", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, _, err := backup.Write(ctx, io.Discard, data, config, info); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
	})
	b.Run("Extract", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dest := filepath.Join(work, "restore")
			os.RemoveAll(dest)
			rc, err := store.Get(ctx, key)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, _, err := backup.Extract(ctx, rc, dest, sum); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
		b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
	})
	b.Run("Verify", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			rc, err := store.Get(ctx, key)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := backup.Verify(ctx, rc, sum); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
		b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
	})
}
