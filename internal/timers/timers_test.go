package timers

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestQueueOrder: deadlines pushed in any order come out earliest first,
// each only once it is due.
func TestQueueOrder(t *testing.T) {
	var q Queue[int]
	start := time.Unix(1000, 0)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		q.Push(start.Add(time.Duration(r.IntN(1000))*time.Millisecond), i)
	}
	require.Equal(t, 200, q.Len())
	_, ok := q.PopDue(start.Add(-time.Millisecond))
	require.False(t, ok, "nothing is due before the earliest deadline")

	var last time.Time
	for q.Len() > 0 {
		next, ok := q.Next()
		require.True(t, ok)
		e, ok := q.PopDue(next)
		require.True(t, ok)
		require.Equal(t, next, e.At)
		require.False(t, e.At.Before(last), "out of order")
		last = e.At
	}
	_, ok = q.Next()
	require.False(t, ok)
}
