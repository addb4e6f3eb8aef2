// Command shutdowner is a test program for tune's structured shutdown. It
// registers the hooks "first" and "second", prints "ready", waits for
// tune.ShutdownContext, prints its cause and calls tune.Shutdown, then
// prints "done". Each hook prints "hook NAME" when it runs. Arguments:
//
//	block   the second hook prints "hook second blocking" and never returns
//	self    no waiting for a signal: Shutdown is called at once, and the
//	        context's cause printed after it
//	after   ShutdownContext is first called after Shutdown has returned:
//	        it prints whether that context is cancelled, and its cause
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/runtimehooks/tune"
)

func main() {
	mode := ""
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	tune.OnShutdown("first", func(context.Context) error {
		fmt.Println("hook first")
		return nil
	})
	tune.OnShutdown("second", func(context.Context) error {
		if mode == "block" {
			fmt.Println("hook second blocking")
			select {}
		}
		fmt.Println("hook second")
		return nil
	})
	if mode == "after" {
		fmt.Println("ready")
		if err := tune.Shutdown(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "shutdown:", err)
			os.Exit(3)
		}
		ctx := tune.ShutdownContext()
		fmt.Println("cancelled:", ctx.Err() != nil)
		fmt.Println("cause:", context.Cause(ctx))
		fmt.Println("done")
		return
	}
	ctx := tune.ShutdownContext()
	fmt.Println("ready")
	if mode != "self" {
		<-ctx.Done()
		fmt.Println("cause:", context.Cause(ctx))
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tune.Shutdown(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
		os.Exit(3)
	}
	if mode == "self" {
		fmt.Println("cause:", context.Cause(ctx))
	}
	fmt.Println("done")
}
