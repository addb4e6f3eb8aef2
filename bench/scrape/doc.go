// Package scrape measures a full /metrics render through promhttp of tune's
// registry (tune.Register on a fresh registry) against client_golang's own
// Go collector with the same runtime/metrics rules plus a process
// collector, and checks that neither stops the world. See scrape_test.go.
package scrape
