package main

import (
	"fmt"
	"strconv"
	"strings"
)

// unimplementedError is a flag the shim cannot honour: the runner counts
// the test as unimplemented (exit code 89) rather than failed.
type unimplementedError struct {
	flag   string
	reason string
}

func (e *unimplementedError) Error() string {
	return fmt.Sprintf("unimplemented: %s (%s)", e.flag, e.reason)
}

func unimplemented(flag, reason string) error {
	return &unimplementedError{flag: flag, reason: reason}
}

// flagDef describes one flag: whether it takes a value, and how it sets
// the options. A flag whose set is nil is known but cannot be honoured;
// missing says what tlsm (or the shim) would need for it.
type flagDef struct {
	param   bool
	set     func(o *options, v string) error
	missing string
}

func boolFlag(f func(o *options) *bool) flagDef {
	return flagDef{set: func(o *options, _ string) error { *f(o) = true; return nil }}
}

func intFlag(f func(o *options) *int) flagDef {
	return flagDef{param: true, set: func(o *options, v string) error {
		n, err := strconv.Atoi(v)
		*f(o) = n
		return err
	}}
}

func intListFlag(f func(o *options) *[]int) flagDef {
	return flagDef{param: true, set: func(o *options, v string) error {
		n, err := strconv.Atoi(v)
		*f(o) = append(*f(o), n)
		return err
	}}
}

func stringFlag(f func(o *options) *string) flagDef {
	return flagDef{param: true, set: func(o *options, v string) error { *f(o) = v; return nil }}
}

// ignored is a flag with no effect on tlsm; why says why.
func ignored(param bool, why string) flagDef {
	return flagDef{param: param, set: func(*options, string) error { return nil }, missing: why}
}

func missing(param bool, why string) flagDef { return flagDef{param: param, missing: why} }

// config holds the options of each connection.
type config struct {
	initial, resume options
}

// parseFlags reads the runner's arguments as BoringSSL's shim does: a
// flag may carry a prefix naming the connections it applies to.
func parseFlags(args []string) (*config, error) {
	cfg := &config{}
	for i := 0; i < len(args); i++ {
		name, targets := cfg.targets(args[i])
		def, ok := flagTable[name]
		if !ok {
			return nil, unimplemented(name, "unknown flag")
		}
		var v string
		if def.param {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("missing value for %s", name)
			}
			i++
			v = args[i]
		}
		if len(targets) == 0 {
			continue
		}
		if def.set == nil {
			return nil, unimplemented(name, def.missing)
		}
		for _, o := range targets {
			if err := def.set(o, v); err != nil {
				return nil, fmt.Errorf("bad value %q for %s: %v", v, name, err)
			}
		}
	}
	return cfg, nil
}

// targets strips the prefixes of a flag and returns its name and the
// options it sets. -on-retry- flags configure the retry after a rejected
// 0-RTT attempt, which never happens since tlsm sends no early data, and
// -on-handshaker- ones a split handshake, which the shim says it lacks.
func (c *config) targets(arg string) (string, []*options) {
	name := arg
	name, _ = cutPrefix(name, "-on-shim")
	if n, ok := cutPrefix(name, "-on-handshaker"); ok {
		return n, nil
	}
	if n, ok := cutPrefix(name, "-on-initial"); ok {
		return n, []*options{&c.initial}
	}
	if n, ok := cutPrefix(name, "-on-resume"); ok {
		return n, []*options{&c.resume}
	}
	if n, ok := cutPrefix(name, "-on-retry"); ok {
		return n, nil
	}
	return name, []*options{&c.initial, &c.resume}
}

// cutPrefix removes prefix from s when a "-" follows it, keeping the "-".
func cutPrefix(s, prefix string) (string, bool) {
	if strings.HasPrefix(s, prefix+"-") {
		return s[len(prefix):], true
	}
	return s, false
}
