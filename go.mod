module github.com/runtimehooks/tune

go 1.25.0
