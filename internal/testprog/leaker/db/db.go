// Package db is the library half of the leaker test program: a
// constructor that tracks what it returns, through a helper of its own,
// as a real client library would.
package db

import "github.com/runtimehooks/tune"

// Conn is a connection its users must Close.
type Conn struct {
	_       [64]byte // not a tiny allocation: AddCleanup needs its own
	untrack func()
}

// Dial returns a new connection.
func Dial() *Conn { return dial() }

func dial() *Conn {
	c := new(Conn)
	c.untrack = tune.Track(c, "db.Conn") // marker: tracked in db
	return c
}

// Close releases c.
func (c *Conn) Close() { c.untrack() }
