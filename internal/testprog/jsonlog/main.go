// Command jsonlog is a test program: it blank-imports tune/auto (so tune's
// Init runs before main with slog's default logger), then makes a JSON
// handler the default, as many services do in main. tune's later lines
// must then come out as JSON with their real level: it changes GOMAXPROCS
// behind tune's back (an Info line from the refresh loop) and leaks a
// tracked object (a Warn line), and exits once both were written.
package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/runtimehooks/tune"
	_ "github.com/runtimehooks/tune/auto"
)

// tee keeps what the JSON handler writes, to know when to stop.
type tee struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tee) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	return os.Stderr.Write(p)
}

func (t *tee) has(s string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Contains(t.buf.Bytes(), []byte(s))
}

type conn struct{ _ [64]byte } // not a tiny allocation: the cleanup needs its own

func main() {
	out := &tee{}
	slog.SetDefault(slog.New(slog.NewJSONHandler(out, nil)))

	runtime.GOMAXPROCS(1)
	func() {
		c := &conn{}
		tune.Track(c, "test.Conn")
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !(out.has(`"msg":"tune: object collected without being closed"`) && out.has(`"msg":"tune: GOMAXPROCS`)) {
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "jsonlog: tune's lines did not come within 20s")
			os.Exit(1)
		}
		runtime.GC()
		time.Sleep(20 * time.Millisecond) // waiting for the loop's next tick and the cleanup
	}
}
