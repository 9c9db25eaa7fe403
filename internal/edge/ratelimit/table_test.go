package ratelimit

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// check verifies that every entry can be found from its home slot and that
// the table agrees with the model.
func (tb *table) check(t *testing.T, model map[uint64]int64) {
	t.Helper()
	if tb.n != len(model) {
		t.Fatalf("n %d, model %d", tb.n, len(model))
	}
	live := 0
	for _, e := range tb.e {
		if e.tat != 0 {
			live++
		}
	}
	if live != tb.n {
		t.Fatalf("%d live slots, n %d", live, tb.n)
	}
	for k, tat := range model {
		i, found := tb.find(k, tb.hash(k))
		if !found || tb.e[i].tat != tat {
			t.Fatalf("key %x: found=%v at %d, want TAT %d", k, found, i, tat)
		}
	}
}

// TestTable runs random inserts, updates, filters and shrinks against a
// Go map, with a narrow key space and tiny tables so that clusters wrap
// around the end.
func TestTable(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		tb := table{seed: seed * 0x9e3779b97f4a7c15}
		model := map[uint64]int64{}
		maxSlots := 8 << (seed % 4)
		for step := range 20000 {
			k := rng.Uint64N(uint64(maxSlots) * 2)
			switch op := rng.IntN(100); {
			case op < 60:
				i, found := tb.find(k, tb.hash(k))
				if found {
					tb.e[i].tat++
					model[k]++
				} else if (tb.n+1)*4 <= maxSlots*3 {
					tat := int64(rng.IntN(100) + 1)
					tb.insert(k, tb.hash(k), tat, maxSlots)
					model[k] = tat
				}
			case op < 97:
				cut := int64(rng.IntN(100))
				tb.filter(func(e *entry) bool {
					if e.tat <= cut {
						return false
					}
					e.tat += 2
					return true
				})
				for k, tat := range model {
					if tat <= cut {
						delete(model, k)
					} else {
						model[k] = tat + 2
					}
				}
			default:
				tb.shrink()
			}
			if len(tb.e) > maxSlots {
				t.Fatalf("seed %d step %d: %d slots, max %d", seed, step, len(tb.e), maxSlots)
			}
			tb.check(t, model)
		}
	}
}

func TestShardSize(t *testing.T) {
	if n := unsafe.Sizeof(shard{}); n%64 != 0 {
		t.Errorf("shard is %d bytes, want a multiple of 64", n)
	}
}
