package harness

import (
	"maps"
	"strings"
	"testing"
)

func TestParseKeyed(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]int64
		err      string
	}{
		{"memory.events", "low 0\nhigh 933\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n",
			map[string]int64{"low": 0, "high": 933, "max": 12, "oom": 1, "oom_kill": 1, "oom_group_kill": 0}, ""},
		{"cpu.stat", "usage_usec 6040000\nnr_periods 33\nnr_throttled 30\nthrottled_usec 5697520\n",
			map[string]int64{"usage_usec": 6040000, "nr_periods": 33, "nr_throttled": 30, "throttled_usec": 5697520}, ""},
		{"no final newline, blank lines", "\noom_kill_disable 0\n\nunder_oom 0\noom_kill 2",
			map[string]int64{"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 2}, ""},
		{"empty", "", map[string]int64{}, ""},
		{"not a number", "high many\n", nil, `high "many" is not a number`},
		{"three fields", "high 1 2\n", nil, `line "high 1 2": want a key and a number`},
		{"key alone", "high\n", nil, "want a key and a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKeyed([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Errorf("ParseKeyed = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func FuzzParseKeyed(f *testing.F) {
	for _, s := range []string{"low 0\nhigh 933\n", "nr_periods 33\nnr_throttled 30\n", "", "x y z\n", "a -1\n", "a 99999999999999999999\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseKeyed(b)
		if err == nil && m == nil {
			t.Fatal("no error and no map")
		}
		for k := range m {
			if k == "" || strings.ContainsAny(k, " \t\n") {
				t.Fatalf("key %q", k)
			}
		}
	})
}
