package result

// GuestFile is where cmd/guestbench describes the guest its v2 results
// came from.
const GuestFile = "guest.json"

// V2Prefix starts the names of the result files of the v2 guest in the
// results directory ("v2-survival.json"), beside the host's.
const V2Prefix = "v2-"

// Guest describes the guest of the v2 results: the kernel package, its
// size, and how long it took.
type Guest struct {
	Kernel      string  `json:"kernel"` // the Debian package and version the kernel came from
	CPUs        int     `json:"cpus"`
	MemoryMiB   int     `json:"memory_mib"`
	Size        string  `json:"size"`                    // ci or full
	ToResults   float64 `json:"boot_to_results_seconds"` // QEMU's start to the guest's last result
	QEMUSeconds float64 `json:"qemu_seconds"`            // QEMU's whole run
}
