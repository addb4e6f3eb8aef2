// Command blankplain is the reference of the blank-import row: an empty
// program that prints its resident set size when main starts
// (BenchmarkBlankImport in bench/startup). cmd/blanktune adds tune's blank
// import, cmd/blankbaseline automaxprocs's and automemlimit's.
package main

import "github.com/runtimehooks/tune/bench/internal/rss"

func main() { rss.Print() }
