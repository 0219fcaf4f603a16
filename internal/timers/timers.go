// Package timers is a queue of deadlines, earliest first, for a loop that
// drives many fsm.Conns from one goroutine: each Conn asks for a call at
// its deadline (EventTimer), and the loop sleeps until the earliest one.
package timers

import (
	"container/heap"
	"time"
)

// Entry is a deadline and the key of whoever asked for it.
type Entry[K any] struct {
	At  time.Time
	Key K
}

// Queue holds deadlines, earliest first. A deadline that has since moved
// stays in the queue; the loop checks, when it pops one, that it is still
// the one its owner asked for.
type Queue[K any] struct {
	h entries[K]
}

// Push adds the deadline at for key.
func (q *Queue[K]) Push(at time.Time, key K) { heap.Push(&q.h, Entry[K]{At: at, Key: key}) }

// Len returns the number of deadlines held.
func (q *Queue[K]) Len() int { return len(q.h) }

// Next returns the earliest deadline; ok is false when there is none.
func (q *Queue[K]) Next() (at time.Time, ok bool) {
	if len(q.h) == 0 {
		return time.Time{}, false
	}
	return q.h[0].At, true
}

// PopDue removes and returns the earliest deadline if it is not after
// now; ok is false when none is due.
func (q *Queue[K]) PopDue(now time.Time) (e Entry[K], ok bool) {
	if len(q.h) == 0 || now.Before(q.h[0].At) {
		return e, false
	}
	return heap.Pop(&q.h).(Entry[K]), true
}

// entries is a container/heap of entries ordered by time.
type entries[K any] []Entry[K]

func (h entries[K]) Len() int           { return len(h) }
func (h entries[K]) Less(i, j int) bool { return h[i].At.Before(h[j].At) }
func (h entries[K]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *entries[K]) Push(x any)        { *h = append(*h, x.(Entry[K])) }
func (h *entries[K]) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = Entry[K]{} // the key, once popped, is not kept alive
	*h = old[:len(old)-1]
	return e
}
