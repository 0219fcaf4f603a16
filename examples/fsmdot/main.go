// Command fsmdot prints the handshake state machine of package fsm as a
// Graphviz digraph, or with -mermaid as a Mermaid state diagram. The
// diagrams in docs/ are generated with it:
//
//	go run ./examples/fsmdot > examples/fsmdot/fsm.dot
//	go run ./examples/fsmdot -mermaid > examples/fsmdot/fsm.mmd
//	dot -Tsvg examples/fsmdot/fsm.dot > examples/fsmdot/fsm.svg
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tlsm/tlsm/fsm"
)

func main() {
	mermaid := flag.Bool("mermaid", false, "print a Mermaid stateDiagram-v2 instead of Graphviz DOT")
	flag.Parse()
	write := writeDOT
	if *mermaid {
		write = writeMermaid
	}
	if err := write(os.Stdout, fsm.Table()); err != nil {
		fmt.Fprintln(os.Stderr, "fsmdot:", err)
		os.Exit(1)
	}
}
