// Command shutdowner is a test program for tune's structured shutdown. It
// registers the hooks "first" and "second", prints "ready", waits for
// tune.ShutdownContext, prints its cause and calls tune.Shutdown. Each hook
// prints "hook NAME" when it runs. With the argument "block", the second
// hook prints "hook second blocking" and never returns.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/runtimehooks/tune"
)

func main() {
	block := len(os.Args) > 1 && os.Args[1] == "block"
	tune.OnShutdown("first", func(context.Context) error {
		fmt.Println("hook first")
		return nil
	})
	tune.OnShutdown("second", func(context.Context) error {
		if block {
			fmt.Println("hook second blocking")
			select {}
		}
		fmt.Println("hook second")
		return nil
	})
	ctx := tune.ShutdownContext()
	fmt.Println("ready")
	<-ctx.Done()
	fmt.Println("cause:", context.Cause(ctx))
	sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tune.Shutdown(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
		os.Exit(3)
	}
	fmt.Println("done")
}
