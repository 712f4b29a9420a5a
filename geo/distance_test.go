package geo

import (
	"math"
	"testing"
)

func TestDistance(t *testing.T) {
	const halfCircumference = math.Pi * earthRadiusKm
	for _, tc := range []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want, tolerance        float64 // km; tolerance as a fraction of want (or km when want is 0)
	}{
		{"same point", 52.37, 4.90, 52.37, 4.90, 0, 1e-9},
		{"Amsterdam-Ashburn", 52.3676, 4.9041, 39.0438, -77.4874, 6200, 0.01},
		{"London-Paris", 51.5074, -0.1278, 48.8566, 2.3522, 343.5, 0.01},
		{"Singapore-Sydney", 1.3521, 103.8198, -33.8688, 151.2093, 6300, 0.01},
		{"equator quarter", 0, 0, 0, 90, halfCircumference / 2, 1e-9},
		{"pole to pole", 90, 0, -90, 0, halfCircumference, 1e-9},
		{"antipodes", 10, 20, -10, -160, halfCircumference, 1e-9},
		{"across the date line", 0, 179.5, 0, -179.5, 111.2, 0.01},
	} {
		for _, swap := range []bool{false, true} {
			a, b, c, d := tc.lat1, tc.lon1, tc.lat2, tc.lon2
			if swap {
				a, b, c, d = c, d, a, b
			}
			got := Distance(a, b, c, d)
			tol := tc.tolerance * tc.want
			if tc.want == 0 {
				tol = tc.tolerance
			}
			if math.IsNaN(got) || math.Abs(got-tc.want) > tol {
				t.Errorf("%s (swapped %v): Distance = %.3f km, want %.3f ± %.3f", tc.name, swap, got, tc.want, tol)
			}
		}
	}
}

func BenchmarkDistance(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Distance(52.3676, 4.9041, 39.0438, -77.4874)
	}
}
