package ratelimit

import (
	"net/http"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// BenchmarkAllow measures one decision with the real clock.
func BenchmarkAllow(b *testing.B) {
	b.Run("one client", func(b *testing.B) {
		// A client hammering the limiter: after its burst, mostly refusals.
		l, _ := New(Default(), Options{})
		ip := addr("192.0.2.1")
		b.ReportAllocs()
		for b.Loop() {
			l.Allow(ip)
		}
	})
	b.Run("one client, fake clock", func(b *testing.B) {
		// The decision alone: time.Now costs tens of nanoseconds on
		// some virtual machines.
		l, _ := newLimiter(b, Config{Requests: MaxRequests, Period: time.Second}, Options{})
		ip := addr("192.0.2.1")
		b.ReportAllocs()
		for b.Loop() {
			l.Allow(ip)
		}
	})
	b.Run("time.Now alone", func(b *testing.B) {
		for b.Loop() {
			time.Now()
		}
	})
	b.Run("one client within limit", func(b *testing.B) {
		l, _ := New(Config{Requests: MaxRequests, Period: time.Second}, Options{})
		ip := addr("2001:db8::1")
		b.ReportAllocs()
		for b.Loop() {
			l.Allow(ip)
		}
	})
	b.Run("allow-listed", func(b *testing.B) {
		var allow []netip.Prefix
		for i := range 1000 {
			allow = append(allow, netip.PrefixFrom(v4(i*256), 24))
		}
		l, _ := New(Config{Allow: allow}, Options{})
		ip := v4(500*256 + 7)
		b.ReportAllocs()
		for b.Loop() {
			if l.Allow(ip).Limit != 0 {
				b.Fatal("not allow-listed")
			}
		}
	})
	b.Run("parallel 64k clients", func(b *testing.B) {
		l, _ := New(Default(), Options{})
		const clients = 1 << 16
		ips := make([]netip.Addr, clients)
		for i := range ips {
			ips[i] = v4(i * 17)
			if i%2 == 1 {
				ips[i] = v6(i * 17)
			}
		}
		var seq atomic.Uint32
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1)) * 7919
			for pb.Next() {
				l.Allow(ips[i%clients])
				i++
			}
		})
	})
}

// BenchmarkAllowSpray gives every request a new address: each one adds a
// client, and once the table is full each one makes room.
func BenchmarkAllowSpray(b *testing.B) {
	for _, tc := range []struct {
		name string
		ip   func(int) netip.Addr
	}{{"IPv4", v4}, {"IPv6", v6}} {
		b.Run(tc.name, func(b *testing.B) {
			l, _ := New(Default(), Options{})
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				l.Allow(tc.ip(i))
				i++
			}
			b.ReportMetric(float64(l.Stats(0).Evicted)/float64(b.N), "evicted/op")
		})
	}
}

func BenchmarkWriteHeaders(b *testing.B) {
	l, _ := New(Default(), Options{})
	d := l.Allow(addr("192.0.2.1"))
	h := http.Header{}
	b.ReportAllocs()
	for b.Loop() {
		d.WriteHeaders(h)
	}
}

// heapAfter returns the live heap after a full collection.
func heapAfter() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// fill sends one request from each of n distinct addresses, half IPv4 and
// half IPv6, all at one instant so that every one stays live.
func fill(l *Limiter, from, n int) {
	for i := from; i < from+n; i++ {
		if i%2 == 0 {
			l.Allow(v4(i))
		} else {
			l.Allow(v6(i))
		}
	}
}

// memoryCeiling is what a limiter may hold at most: every shard's table
// at its largest. For the default MaxClients that is 326 × 64 KiB plus the
// shards themselves, about 20.4 MiB, as the package documentation says.
func memoryCeiling(l *Limiter) uint64 {
	return uint64(len(l.shards)) * uint64(l.maxSlots*int(unsafe.Sizeof(entry{}))+int(unsafe.Sizeof(shard{})))
}

// TestMemoryBound sprays a limiter with the default MaxClients with twice
// that many live addresses and checks that its heap stays under the
// documented ceiling.
func TestMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("sprays two million addresses")
	}
	before := heapAfter()
	l, _ := newLimiter(t, Default(), Options{})
	fill(l, 0, DefaultMaxClients)
	mid := heapAfter()
	fill(l, DefaultMaxClients, DefaultMaxClients)
	after := heapAfter()
	s := l.Stats(0)
	t.Logf("after 1M addresses: %d tracked, %.1f MiB, %.1f bytes per client", s.Tracked, mib(mid-before), float64(mid-before)/float64(s.Tracked))
	t.Logf("after 2M addresses: %d tracked, %d evicted, %.1f MiB", s.Tracked, s.Evicted, mib(after-before))
	if s.Tracked > DefaultMaxClients {
		t.Errorf("%d clients tracked, bound %d", s.Tracked, DefaultMaxClients)
	}
	ceiling := memoryCeiling(l)
	if mib(ceiling) > 21 {
		t.Errorf("ceiling %.1f MiB, documented as about 20.4 MiB", mib(ceiling))
	}
	const slack = 1 << 20 // the runtime's own bookkeeping
	if used := max(mid, after) - before; used > ceiling+slack {
		t.Errorf("heap grew by %.1f MiB, ceiling %.1f MiB", mib(used), mib(ceiling))
	}
	runtime.KeepAlive(l)
}

// BenchmarkMemory reports the heap per tracked client after one million
// distinct addresses.
func BenchmarkMemory(b *testing.B) {
	for range b.N {
		before := heapAfter()
		l, _ := newLimiter(b, Default(), Options{})
		fill(l, 0, DefaultMaxClients)
		used := heapAfter() - before
		s := l.Stats(0)
		b.ReportMetric(float64(used)/float64(s.Tracked), "bytes/client")
		b.ReportMetric(mib(used), "MiB/1M-addresses")
		b.ReportMetric(float64(s.Tracked), "tracked")
		runtime.KeepAlive(l)
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }
