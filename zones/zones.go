// Package zones owns the authoritative data: RFC 1035 master files and GSLB
// services compiled into one immutable Set, the RFC 1034 lookup over it, and
// the pure Select function that picks a service's addresses for a client.
// It does no network I/O and reads no globals.
package zones
