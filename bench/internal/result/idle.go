package result

// IdleFile is the idle-CPU measurement's result file.
const IdleFile = "idle.json"

// Idle is the idle-CPU measurement: CPU times are the children's
// cpuacct.usage over the window, in nanoseconds; shares are of one core.
type Idle struct {
	Method       string  `json:"method"`
	Seconds      float64 `json:"seconds"`
	TuneNanos    int64   `json:"tune_cpu_ns"`
	PlainNanos   int64   `json:"plain_cpu_ns"`
	TickerNanos  int64   `json:"ticker_cpu_ns"`
	TuneShare    float64 `json:"tune_share"`
	PlainShare   float64 `json:"plain_share"`
	TickerShare  float64 `json:"ticker_share"`
	RefreshShare float64 `json:"refresh_share"` // tune − plain: the whole refresh loop
	WakeShare    float64 `json:"wake_share"`    // empty ticker − plain: a 1 s wake-up alone
	WorkShare    float64 `json:"work_share"`    // tune − empty ticker: the tick's work beyond the wake-up
}
