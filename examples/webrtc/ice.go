package main

import (
	"context"
	"fmt"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
)

// newLoopbackAgent returns an ICE agent that gathers UDP host candidates
// on loopback addresses only and takes no remote candidate elsewhere.
func newLoopbackAgent(logs logging.LoggerFactory) (*ice.Agent, error) {
	return ice.NewAgentWithOptions(
		ice.WithNetworkTypes([]ice.NetworkType{ice.NetworkTypeUDP4}),
		ice.WithCandidateTypes([]ice.CandidateType{ice.CandidateTypeHost}),
		ice.WithMulticastDNSMode(ice.MulticastDNSModeDisabled),
		ice.WithIncludeLoopback(),
		ice.WithIPFilter(net.IP.IsLoopback),
		ice.WithRemoteIPFilter(net.IP.IsLoopback),
		ice.WithLoggerFactory(logs),
	)
}

// gatherCandidates gathers the agent's candidates and returns them in SDP
// form ("candidate:..."), once gathering is complete.
func gatherCandidates(ctx context.Context, agent *ice.Agent) ([]string, error) {
	found := make(chan ice.Candidate)
	report := func(c ice.Candidate) {
		select {
		case found <- c:
		case <-ctx.Done():
		}
	}
	if err := agent.OnCandidate(report); err != nil {
		return nil, err
	}
	if err := agent.GatherCandidates(); err != nil {
		return nil, err
	}
	var candidates []string
	for {
		select {
		case c := <-found:
			if c == nil {
				if len(candidates) == 0 {
					return nil, fmt.Errorf("ice: no loopback candidate gathered")
				}
				return candidates, nil
			}
			candidates = append(candidates, "candidate:"+c.Marshal())
		case <-ctx.Done():
			return nil, fmt.Errorf("ice: gathering: %w", ctx.Err())
		}
	}
}

// addRemoteCandidates gives the agent the offer's UDP candidates on
// loopback addresses; it reports how many it took. There may be none:
// Chromium without camera or microphone permission, and without mDNS
// names, offers only the address of its default route, from a socket
// bound to every address. Its checks to our 127.0.0.1 candidate then come
// from 127.0.0.1, and ICE learns that address as a peer-reflexive
// candidate (RFC 8445 §7.3.1.3).
func addRemoteCandidates(agent *ice.Agent, candidates []string) (int, error) {
	added := 0
	for _, s := range candidates {
		c, err := ice.UnmarshalCandidate(s)
		if err != nil {
			continue // a candidate we cannot read, such as an mDNS name
		}
		ip := net.ParseIP(c.Address())
		if !c.NetworkType().IsUDP() || ip == nil || !ip.IsLoopback() {
			continue
		}
		if err := agent.AddRemoteCandidate(c); err != nil {
			return added, err
		}
		added++
	}
	return added, nil
}
