package ratelimit

// table is one shard's map from client key to TAT: open addressing with
// linear probing and backward-shift deletion, so that it never fills with
// tombstones however many clients come and go, and its size is a fixed
// function of the number of entries. (A Go map under the same churn kept
// growing: deleted slots are not always reclaimed, and maps never shrink.)
//
// An entry takes 16 bytes. The table doubles when it would be more than 3/4
// full, up to the shard's maximum, and halves again after sweeps leave it
// nearly empty.
type table struct {
	e    []entry
	n    int    // live entries
	seed uint64 // the limiter's hash seed
}

// entry is one client. tat 0 marks a free slot; live TATs are never 0
// because the limiter's clock starts at 1.
type entry struct {
	key uint64
	tat int64
}

const minSlots = 8

func (t *table) hash(k uint64) uint64 { return mix(k ^ t.seed) }

// find returns the slot of key k with hash h, or the free slot where it
// would go (-1 for an empty table).
func (t *table) find(k, h uint64) (i int, found bool) {
	if len(t.e) == 0 {
		return -1, false
	}
	mask := len(t.e) - 1
	for i = int(h) & mask; ; i = (i + 1) & mask {
		switch e := &t.e[i]; {
		case e.tat == 0:
			return i, false
		case e.key == k:
			return i, true
		}
	}
}

// insert adds k, which must not be in the table, growing the table if
// needed but never past maxSlots.
func (t *table) insert(k, h uint64, tat int64, maxSlots int) {
	if (t.n+1)*4 > len(t.e)*3 && len(t.e) < maxSlots {
		t.resize(max(minSlots, 2*len(t.e)))
	}
	i, _ := t.find(k, h)
	t.e[i] = entry{k, tat}
	t.n++
}

// remove frees slot i and moves later entries of its cluster back, so
// that no lookup ever needs to step over a hole.
func (t *table) remove(i int) {
	mask := len(t.e) - 1
	for j := (i + 1) & mask; t.e[j].tat != 0; j = (j + 1) & mask {
		// The entry at j may move to the hole at i unless its home
		// slot lies cyclically in (i, j].
		home := int(t.hash(t.e[j].key)) & mask
		if (j-home)&mask >= (j-i)&mask {
			t.e[i] = t.e[j]
			i = j
		}
	}
	t.e[i] = entry{}
	t.n--
}

// filter calls keep for each entry, which may change the entry's TAT, and
// removes the entries for which it returns false. Each entry is seen
// exactly once: the scan starts after a free slot, which no cluster
// crosses, and remove only moves entries that the scan has yet to reach.
func (t *table) filter(keep func(*entry) bool) {
	if t.n == 0 {
		return
	}
	mask := len(t.e) - 1
	start := 0
	for t.e[start].tat != 0 {
		start++
	}
	for c := 1; c <= mask+1; {
		p := (start + c) & mask
		if e := &t.e[p]; e.tat != 0 && !keep(e) {
			t.remove(p) // and look at p again: an entry may have moved in
			continue
		}
		c++
	}
}

// resize moves the entries into a table of size slots (a power of two, or
// 0 for an empty table).
func (t *table) resize(slots int) {
	old := t.e
	t.e = nil
	if slots > 0 {
		t.e = make([]entry, slots)
	}
	mask := slots - 1
	for _, e := range old {
		if e.tat == 0 {
			continue
		}
		i := int(t.hash(e.key)) & mask
		for t.e[i].tat != 0 {
			i = (i + 1) & mask
		}
		t.e[i] = e
	}
}

// shrink gives memory back when the table is mostly empty.
func (t *table) shrink() {
	switch {
	case t.n == 0:
		t.e = nil
	case len(t.e) > 64 && t.n*8 < len(t.e):
		t.resize(max(minSlots, nextPow2(2*t.n)))
	}
}

func nextPow2(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}
