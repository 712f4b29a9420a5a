package health

import (
	"testing"
	"time"
)

func TestMachine(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		start      machine
		results    string // '+' success, '-' failure
		states     string // state after each result: U up, D down
		remaining  []int  // remaining() after each result
	}{
		{"first success decides", 2, 3, machine{}, "+", "U", []int{0}},
		{"first failure decides", 2, 3, machine{}, "-", "D", []int{2}},
		{"fall after 3", 2, 3, machine{}, "+---", "UUUD", []int{0, 2, 1, 2}},
		{"streak broken", 2, 3, machine{}, "+--+--", "UUUUUU", []int{0, 2, 1, 0, 2, 1}},
		{"rise after 2", 2, 3, machine{}, "-++", "DDU", []int{2, 1, 0}},
		{"rise streak broken", 3, 3, machine{}, "-++-++", "DDDDDD", []int{3, 2, 1, 3, 2, 1}},
		{"rise 1 fall 1", 1, 1, machine{}, "+-+-", "UDUD", []int{0, 1, 0, 1}},
		{"fresh up decides down at once", 2, 3, machine{state: StateUp, fresh: true}, "-", "D", []int{2}},
		{"fresh down decides up at once", 2, 3, machine{state: StateDown, fresh: true}, "++", "UU", []int{0, 0}},
		{"long failure while down", 2, 2, machine{}, "-----+", "DDDDDD", []int{2, 2, 2, 2, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.start
			now := time.Unix(1000, 0)
			for i, r := range tt.results {
				prev := m.state
				changed := m.observe(r == '+', tt.rise, tt.fall, now)
				want := StateUp
				if tt.states[i] == 'D' {
					want = StateDown
				}
				if m.state != want {
					t.Fatalf("after result %d (%c): state %v, want %v", i+1, r, m.state, want)
				}
				if changed != (prev != want) {
					t.Fatalf("after result %d: changed = %v, prev %v now %v", i+1, changed, prev, want)
				}
				if changed && !m.lastChange.Equal(now) {
					t.Fatalf("lastChange = %v, want %v", m.lastChange, now)
				}
				if got := m.remaining(tt.rise, tt.fall); got != tt.remaining[i] {
					t.Fatalf("after result %d: remaining = %d, want %d", i+1, got, tt.remaining[i])
				}
				now = now.Add(time.Second)
			}
		})
	}
}

func TestChangeDeadline(t *testing.T) {
	next := time.Unix(1000, 0)
	iv := 10 * time.Second
	step := 9 * time.Second // shortest jittered interval
	tests := []struct {
		name string
		m    machine
		want time.Time
	}{
		{"unknown: the next result", machine{}, next},
		{"stable up", machine{state: StateUp, ok: 5}, time.Time{}},
		{"up, 1 of 3 failures", machine{state: StateUp, fail: 1}, next.Add(step)},
		{"up, 2 of 3 failures", machine{state: StateUp, fail: 2}, next},
		{"down, no success", machine{state: StateDown, fail: 7}, next.Add(step)},
		{"down, 1 of 2 successes", machine{state: StateDown, ok: 1}, next},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.changeDeadline(2, 3, next, iv); !got.Equal(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
