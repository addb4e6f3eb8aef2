// Package result holds the JSON line cmd/workload prints, shared with the
// survival test that reads it.
package result

// Workload is the JSON line cmd/workload prints when it finishes,
// read back by the survival test.
type Workload struct {
	Tune          string  `json:"tune"`
	Ops           int64   `json:"ops"`
	Seconds       float64 `json:"seconds"`
	OpsPerSec     float64 `json:"ops_per_sec"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	OpsPerCPUSec  float64 `json:"ops_per_cpu_sec"`
	GCCPUFraction float64 `json:"gc_cpu_fraction"`
	GCCycles      uint64  `json:"gc_cycles"`
	LiveBytes     int64   `json:"live_bytes"`
	GOMEMLIMIT    int64   `json:"gomemlimit"`
	GOMAXPROCS    int     `json:"gomaxprocs"`
}
