package tune_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/runtimehooks/tune"
)

// A server that stops cleanly on SIGTERM: hooks run in reverse order of
// registration, so the server stops taking requests before the database
// closes, all within the 20s the orchestrator allows.
func ExampleShutdown() {
	db := openExampleDB()
	tune.OnShutdown("database", db.Close)

	srv := &http.Server{Addr: ":8080"}
	tune.OnShutdown("http server", srv.Shutdown)
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("serve", "err", err)
		}
	}()

	ctx := tune.ShutdownContext()
	<-ctx.Done() // from here, a second SIGTERM ends the program at once
	slog.Info("shutting down", "cause", context.Cause(ctx))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tune.Shutdown(ctx); err != nil {
		slog.Error("shutdown", "err", err) // names each hook that failed
	}
}

type exampleDB struct{}

func openExampleDB() *exampleDB                    { return &exampleDB{} }
func (*exampleDB) Close(ctx context.Context) error { return nil }

// exampleConn is a resource whose Close its users sometimes forget.
type exampleConn struct {
	untrack func()
}

// dialExample tracks every connection it returns: one dropped without
// Close shows up in gotune_leaked_objects_total{kind="Conn"} and in a Warn
// line naming this line (tracked_at) and the line that called dialExample
// (created_by).
func dialExample() *exampleConn {
	c := &exampleConn{}
	c.untrack = tune.Track(c, "Conn")
	return c
}

// Close releases the connection; the receiver keeps c reachable until
// untrack has run.
func (c *exampleConn) Close() error {
	c.untrack()
	return nil
}

// ShutdownContext is cancelled on the first SIGINT or SIGTERM: hand it to
// the work that should stop then. context.Cause names the signal.
func ExampleShutdownContext() {
	ctx := tune.ShutdownContext()
	jobs := make(chan string)
	go func() {
		for {
			select {
			case <-ctx.Done():
				slog.Info("worker stopping", "cause", context.Cause(ctx))
				return
			case j := <-jobs:
				slog.Info("job", "id", j)
			}
		}
	}()
	<-ctx.Done()
}

// OnShutdown hooks run last registered first: register them in the order
// things are opened, and they close in the reverse one. Each gets
// Shutdown's context and shares its deadline.
func ExampleOnShutdown() {
	db := openExampleDB()
	tune.OnShutdown("database", db.Close)

	flushed := make(chan struct{})
	tune.OnShutdown("metrics flush", func(ctx context.Context) error {
		select {
		case <-flushed:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx) // reported by Shutdown, named "metrics flush"
		}
	})
}

func ExampleTrack() {
	c := dialExample()
	defer c.Close()
}
