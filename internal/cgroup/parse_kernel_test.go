package cgroup

import "testing"

func TestParsePSI(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want PSI
		err  string // a part of the error; "" for none
	}{
		{"memory, both lines", "some avg10=1.53 avg60=0.80 avg300=0.21 total=3460012\nfull avg10=0.91 avg60=0.42 avg300=0.10 total=1870232\n",
			PSI{Some: PSILine{1.53, 0.80, 0.21, 3460012}, Full: PSILine{0.91, 0.42, 0.10, 1870232}, HasFull: true}, ""},
		{"cpu before 5.13: no full line", "some avg10=12.50 avg60=9.71 avg300=4.02 total=81234567\n",
			PSI{Some: PSILine{12.50, 9.71, 4.02, 81234567}}, ""},
		{"system cpu full line of zeros", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
			PSI{HasFull: true}, ""},
		{"fully stalled", "some avg10=100.00 avg60=100.00 avg300=100.00 total=18446744073\nfull avg10=100.00 avg60=99.99 avg300=97.12 total=18000000000",
			PSI{Some: PSILine{100, 100, 100, 18446744073}, Full: PSILine{100, 99.99, 97.12, 18000000000}, HasFull: true}, ""},
		{"no trailing newline, order of keys free", "some total=5 avg300=0.01 avg10=0.10",
			PSI{Some: PSILine{Avg10: 0.10, Avg300: 0.01, Total: 5}}, ""},
		{"unknown keys and lines passed over", "some avg10=0.50 avg60=0.00 avg300=0.00 avg1800=0.00 total=7\nnew avg10=x\n",
			PSI{Some: PSILine{Avg10: 0.50, Total: 7}}, ""},
		{"integer average", "some avg10=3 total=1", PSI{Some: PSILine{Avg10: 3, Total: 1}}, ""},
		{"only full", "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", PSI{}, `no "some" line`},
		{"empty", "", PSI{}, `no "some" line`},
		{"/dev/zero", "\x00\x00\x00\x00", PSI{}, `no "some" line`},
		{"no total", "some avg10=0.00 avg60=0.00 avg300=0.00\n", PSI{}, `line 1: "some avg10=0.00 avg60=0.00 avg30"...: avg10 or total missing`},
		{"bad total", "some avg10=0.00 total=-1\n", PSI{}, "line 1: \"some avg10=0.00 total=-1\": -1 is negative"},
		{"bad average", "some avg10=1,5 total=1\n", PSI{}, `"1,5" is not a decimal number`},
		{"average without digits after the point", "some avg10=1. total=1\n", PSI{}, `"1." is not a decimal number`},
		{"negative average", "some avg10=-1.00 total=1\n", PSI{}, `"-1.00" is not a decimal number`},
		{"a field without =", "some avg10 0.00 total=1\n", PSI{}, "a field without ="},
		{"bad full line", "some avg10=0.00 total=0\nfull avg10=0.00 total=x\n", PSI{}, `line 2: "full avg10=0.00 total=x": "x" is not a number`},
		{"two some lines", "some avg10=0.00 total=0\nsome avg10=0.00 total=0\n", PSI{}, "line 2: a second some line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePSI([]byte(tt.in))
			if !errMatches(err, tt.err) {
				t.Fatalf("error %v, want one with %q", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("ParsePSI = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseMemoryEvents(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want MemoryEventCounts
		err  string
	}{
		{"6.x", "low 1\nhigh 2\nmax 3\noom 4\noom_kill 5\noom_group_kill 6\n", MemoryEventCounts{1, 2, 3, 4, 5, 6}, ""},
		{"5.4: no oom_group_kill", "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n", MemoryEventCounts{Max: 7, OOM: 2, OOMKill: 2}, ""},
		{"4.5: no oom_kill", "low 0\nhigh 10\nmax 0\noom 0\n", MemoryEventCounts{High: 10}, ""},
		{"unknown keys passed over", "low 0\nsock_throttled 9\nmax 1\n", MemoryEventCounts{Max: 1}, ""},
		{"big counter", "max 9223372036854775807", MemoryEventCounts{Max: 1<<63 - 1}, ""},
		{"empty", "", MemoryEventCounts{}, ""},
		{"blank lines", "\n\nmax 1\n\n", MemoryEventCounts{Max: 1}, ""},
		{"not a number", "low 0\nhigh x\n", MemoryEventCounts{}, `line 2: "high": "x" is not a number`},
		{"no value", "oom_kill\n", MemoryEventCounts{}, `line 1: "oom_kill" is not "key number"`},
		{"negative", "max -3\n", MemoryEventCounts{}, `line 1: "max": -3 is negative`},
		{"leading space", " max 3\n", MemoryEventCounts{}, `line 1: " max 3" is not "key number"`},
		{"two values", "max 3 4\n", MemoryEventCounts{}, `line 1: "max": "3 4" is not a number`},
		{"/dev/zero", "\x00\x00\x00", MemoryEventCounts{}, `is not "key number"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMemoryEvents([]byte(tt.in))
			if !errMatches(err, tt.err) {
				t.Fatalf("error %v, want one with %q", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("ParseMemoryEvents = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseOOMControl(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want OOMControl
		err  string
	}{
		{"4.13 and later", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", OOMControl{OOMKill: 3, HasOOMKill: true}, ""},
		{"before 4.13", "oom_kill_disable 0\nunder_oom 1\n", OOMControl{UnderOOM: true}, ""},
		{"OOM killer off, waiting", "oom_kill_disable 1\nunder_oom 1\noom_kill 0\n", OOMControl{KillDisable: true, UnderOOM: true, HasOOMKill: true}, ""},
		{"bad", "oom_kill_disable 0\nunder_oom yes\n", OOMControl{}, `line 2: "under_oom": "yes" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOOMControl([]byte(tt.in))
			if !errMatches(err, tt.err) {
				t.Fatalf("error %v, want one with %q", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("ParseOOMControl = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseCount(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		err  string
	}{
		{"0\n", 0, ""},
		{"5821\n", 5821, ""},
		{" 267911168 ", 267911168, ""},
		{"9223372036854771712\n", 9223372036854771712, ""},
		{"", 0, `"" is not a number`},
		{"max\n", 0, `"max" is not a number`},
		{"-1\n", 0, "-1 is negative"},
		{"18446744073709551615", 0, "is not a number"},
		{"9999999999999999999", 0, "out of range"},
	}
	for _, tt := range tests {
		got, err := ParseCount([]byte(tt.in))
		if !errMatches(err, tt.err) || got != tt.want {
			t.Errorf("ParseCount(%q) = %d, %v; want %d, error with %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestKernelParsersDoNotAllocate: the refresh loop parses these files on
// every tick.
func TestKernelParsersDoNotAllocate(t *testing.T) {
	psi := []byte("some avg10=1.53 avg60=0.80 avg300=0.21 total=3460012\nfull avg10=0.91 avg60=0.42 avg300=0.10 total=1870232\n")
	events := []byte("low 1\nhigh 2\nmax 3\noom 4\noom_kill 5\noom_group_kill 6\nsock_throttled 0\n")
	oom := []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
	count := []byte("5821\n")
	var errs [4]error
	n := testing.AllocsPerRun(100, func() {
		_, errs[0] = ParsePSI(psi)
		_, errs[1] = ParseMemoryEvents(events)
		_, errs[2] = ParseOOMControl(oom)
		_, errs[3] = ParseCount(count)
	})
	if errs != [4]error{} {
		t.Fatalf("errors %v", errs)
	}
	if n != 0 {
		t.Errorf("the parsers allocate %v times", n)
	}
}
