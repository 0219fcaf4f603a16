package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tlsm/tlsm/fsm"
)

// edge is one arrow of a drawing of the table: the inputs that lead from
// one state to another, in table order.
type edge struct {
	from, to fsm.State
	inputs   []string
}

// drawing is the table arranged for drawing. States are grouped by the
// role whose start state reaches them (client first, then server; any
// other, Closed included, in neither group); transitions between the same
// two states are merged into one edge.
type drawing struct {
	client, server, others []fsm.State
	edges                  []edge
}

func arrange(table []fsm.Transition) drawing {
	reach := func(start fsm.State, skip []fsm.State) []fsm.State {
		seen := map[fsm.State]bool{start: true}
		for _, s := range skip {
			seen[s] = true
		}
		out := []fsm.State{start}
		for i := 0; i < len(out); i++ {
			for _, t := range table {
				if t.From != out[i] {
					continue
				}
				for _, to := range t.To {
					if !seen[to] && to != fsm.StateClosed {
						seen[to] = true
						out = append(out, to)
					}
				}
			}
		}
		slices.Sort(out)
		return out
	}
	var d drawing
	d.client = reach(fsm.StateClientStart, nil)
	d.server = reach(fsm.StateServerStart, d.client)
	for _, s := range allStates() {
		if !slices.Contains(d.client, s) && !slices.Contains(d.server, s) {
			d.others = append(d.others, s)
		}
	}
	for _, t := range table {
		for _, to := range t.To {
			i := slices.IndexFunc(d.edges, func(e edge) bool { return e.from == t.From && e.to == to })
			if i < 0 {
				d.edges = append(d.edges, edge{from: t.From, to: to})
				i = len(d.edges) - 1
			}
			d.edges[i].inputs = append(d.edges[i].inputs, t.On.String())
		}
	}
	return d
}

// allStates lists fsm's states in order: those with a name.
func allStates() []fsm.State {
	var out []fsm.State
	for s := fsm.State(0); !strings.HasPrefix(s.String(), "State("); s++ {
		out = append(out, s)
	}
	return out
}

// closeLabel describes the edges drawn from each role to Closed.
const closeLabel = "fatal alert or close_notify"

// writeDOT renders the table as a Graphviz digraph, client and server
// states in one cluster each. Any state can reach Closed on a fatal alert
// (sent or received) or the close_notify exchange; that is drawn as one
// dashed edge per cluster rather than one per state.
func writeDOT(w io.Writer, table []fsm.Transition) error {
	d := arrange(table)
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("digraph tlsm {\n\trankdir=TB;\n\tcompound=true;\n\tfontname=\"Helvetica\";\n")
	p("\tnode [shape=box, style=rounded, fontname=\"Helvetica\"];\n")
	p("\tedge [fontname=\"Helvetica\", fontsize=10];\n")
	cluster := func(name string, states []fsm.State) {
		p("\tsubgraph cluster_%s {\n\t\tlabel=%q;\n\t\tstyle=dashed;\n\t\tcolor=gray;\n", name, name)
		for _, s := range states {
			p("\t\t%s;\n", s)
		}
		p("\t}\n")
	}
	cluster("client", d.client)
	cluster("server", d.server)
	for _, s := range d.others {
		p("\t%s [style=\"rounded,bold\"];\n", s)
	}
	for _, e := range d.edges {
		p("\t%s -> %s [label=%q];\n", e.from, e.to, strings.Join(e.inputs, "\n"))
	}
	for _, c := range []struct {
		name   string
		states []fsm.State
	}{{"client", d.client}, {"server", d.server}} {
		p("\t%s -> %s [ltail=cluster_%s, style=dashed, color=gray, label=%q];\n",
			c.states[len(c.states)-1], fsm.StateClosed, c.name, closeLabel)
	}
	p("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeMermaid renders the table as a Mermaid stateDiagram-v2, client and
// server states in one composite state each. As in writeDOT, the way to
// Closed is drawn once per role.
func writeMermaid(w io.Writer, table []fsm.Transition) error {
	d := arrange(table)
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("stateDiagram-v2\n")
	in := func(states []fsm.State, s fsm.State) bool { return slices.Contains(states, s) }
	group := func(name string, start fsm.State, states []fsm.State) {
		p("    state %s {\n", name)
		p("        [*] --> %s\n", start)
		for _, e := range d.edges {
			if in(states, e.from) && in(states, e.to) {
				p("        %s --> %s: %s\n", e.from, e.to, strings.Join(e.inputs, ", "))
			}
		}
		p("    }\n")
	}
	group("Client", fsm.StateClientStart, d.client)
	group("Server", fsm.StateServerStart, d.server)
	for _, e := range d.edges {
		if !(in(d.client, e.from) && in(d.client, e.to)) && !(in(d.server, e.from) && in(d.server, e.to)) {
			p("    %s --> %s: %s\n", e.from, e.to, strings.Join(e.inputs, ", "))
		}
	}
	p("    Client --> %s: %s\n", fsm.StateClosed, closeLabel)
	p("    Server --> %s: %s\n", fsm.StateClosed, closeLabel)
	p("    %s --> [*]\n", fsm.StateClosed)
	_, err := io.WriteString(w, b.String())
	return err
}
