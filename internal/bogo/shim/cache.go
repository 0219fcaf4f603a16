package main

import (
	"sync/atomic"

	"github.com/tlsm/tlsm/fsm"
)

// recordingCache is a session cache that counts the sessions stored in
// it, so that the shim can tell whether a connection made a new session.
type recordingCache struct {
	fsm.SessionCache
	puts atomic.Int64
}

func newRecordingCache() *recordingCache {
	return &recordingCache{SessionCache: fsm.NewLRUSessionCache(0)}
}

// Put stores s, counting it unless it removes an entry.
func (c *recordingCache) Put(key string, s *fsm.Session) {
	if s != nil {
		c.puts.Add(1)
	}
	c.SessionCache.Put(key, s)
}

// count returns how many sessions were stored so far.
func (c *recordingCache) count() int { return int(c.puts.Load()) }
