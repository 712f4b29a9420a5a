package geo

import "math"

// earthRadiusKm is the mean Earth radius (IUGG), in kilometres.
const earthRadiusKm = 6371.0088

// Distance returns the great-circle distance in kilometres between two
// points given in degrees, by the haversine formula on a spherical Earth
// (within about 0.5% of the ellipsoidal distance).
func Distance(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	s1, s2 := math.Sin(dLat/2), math.Sin(dLon/2)
	h := s1*s1 + math.Cos(lat1*rad)*math.Cos(lat2*rad)*s2*s2
	h = min(max(h, 0), 1) // rounding can push h just outside [0, 1]
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(h))
}

// UnitVector is the point at lat, lon (degrees) on the unit sphere. The dot
// product of two such vectors falls as the great-circle distance between
// the points grows; ArcKm turns it into kilometres.
func UnitVector(lat, lon float64) [3]float64 {
	const rad = math.Pi / 180
	sinLat, cosLat := math.Sincos(lat * rad)
	sinLon, cosLon := math.Sincos(lon * rad)
	return [3]float64{cosLat * cosLon, cosLat * sinLon, sinLat}
}
