// Command blank is a test program: it blank-imports tune/auto and prints
// the GOMEMLIMIT and GOMAXPROCS in effect once main starts, as JSON.
package main

import (
	"encoding/json"
	"os"
	"runtime"
	"runtime/debug"

	_ "github.com/runtimehooks/tune/auto"
)

func main() {
	json.NewEncoder(os.Stdout).Encode(map[string]int64{
		"gomemlimit": debug.SetMemoryLimit(-1),
		"gomaxprocs": int64(runtime.GOMAXPROCS(0)),
	})
}
