package fsmtest

import (
	"slices"

	"github.com/tlsm/tlsm/fsm"
)

// Reachable returns, for each state, the states one or more edges of
// fsm.Table() lead to. One observation of a Conn may span several
// transitions (a datagram can hold a whole flight), so a checker sees its
// changes of state as paths, which must follow the table.
func Reachable() map[fsm.State]map[fsm.State]bool {
	next := map[fsm.State][]fsm.State{}
	for _, t := range fsm.Table() {
		next[t.From] = append(next[t.From], t.To...)
	}
	reach := map[fsm.State]map[fsm.State]bool{}
	for from := range next {
		seen := map[fsm.State]bool{}
		queue := slices.Clone(next[from])
		for len(queue) > 0 {
			s := queue[0]
			queue = queue[1:]
			if !seen[s] {
				seen[s] = true
				queue = append(queue, next[s]...)
			}
		}
		reach[from] = seen
	}
	return reach
}
