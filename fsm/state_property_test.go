package fsm

import "testing"

// TestStatePropertiesAgreeWithTable: the properties beside the table say
// nothing the table contradicts. A connected state takes application
// data; a state restarted by a message takes that message; a start state
// is entered by no transition but its own loops.
func TestStatePropertiesAgreeWithTable(t *testing.T) {
	for s := State(0); s < numStates; s++ {
		p := property(s)
		if p.connected && lookup(s, InApplicationData) == nil {
			t.Errorf("%s is connected but takes no application data", s)
		}
		if p.restarts {
			in, ok := inputFor(p.restartedBy, make([]byte, 34))
			if !ok || lookup(s, in) == nil {
				t.Errorf("%s is restarted by %s, which it does not take", s, p.restartedBy)
			}
		}
		if p.initialRecords && !p.start {
			t.Errorf("%s sends initial records but is no start state", s)
		}
	}
	for _, tr := range table {
		for _, to := range tr.To {
			if property(to).start && to != tr.From {
				t.Errorf("%s -> %s on %s enters a start state", tr.From, to, tr.On)
			}
		}
	}
}
