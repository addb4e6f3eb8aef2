// Command leaker is a test program for tune's leak reports. It drops one
// tracked object without closing it, collects garbage until tune's Warn
// line about it has been written, prints that line (JSON) on stdout and
// exits. Its argument says where the object comes from:
//
//	library  main calls db.Dial, whose helper calls tune.Track
//	main     net/http calls a handler in package main, which calls a
//	         constructor in package main that calls tune.Track
package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"time"

	"github.com/runtimehooks/tune"
	"github.com/runtimehooks/tune/internal/testprog/leaker/db"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: leaker library|main")
		os.Exit(64)
	}
	written := make(chan []byte, 1)
	slog.SetDefault(slog.New(&signalling{written: written}))
	switch os.Args[1] {
	case "library":
		useLibrary()
	case "main":
		http.HandlerFunc(handle).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	default:
		fmt.Fprintln(os.Stderr, "leaker: unknown mode", os.Args[1])
		os.Exit(64)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC()
		select {
		case line := <-written:
			os.Stdout.Write(line)
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	fmt.Fprintln(os.Stderr, "leaker: no leak report within 20s")
	os.Exit(1)
}

//go:noinline
func useLibrary() {
	db.Dial() // marker: created in main (library)
}

type conn struct {
	_       [64]byte // not a tiny allocation: AddCleanup needs its own
	untrack func()
}

func handle(w http.ResponseWriter, r *http.Request) {
	dialLocal() // marker: created in main (main)
}

//go:noinline
func dialLocal() *conn {
	c := new(conn)
	c.untrack = tune.Track(c, "main.conn") // marker: tracked in main
	return c
}

// signalling is a JSON handler that hands every line it writes to written.
type signalling struct {
	written chan []byte
}

func (h *signalling) Enabled(context.Context, slog.Level) bool { return true }
func (h *signalling) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *signalling) WithGroup(string) slog.Handler            { return h }

func (h *signalling) Handle(ctx context.Context, r slog.Record) error {
	var buf bytes.Buffer
	err := slog.NewJSONHandler(&buf, nil).Handle(ctx, r)
	select {
	case h.written <- buf.Bytes():
	default:
	}
	return err
}
