// Package dns owns the DNS side of Godwit: the UDP and TCP listeners and the
// authoritative request handler. The handler checks the message (opcode,
// question count, EDNS per RFC 6891, EDNS Client Subnet per RFC 7871),
// answers CHAOS identity questions itself, refuses zone transfers, and asks
// its Resolver once per query for the generation serving now (an Answers):
// the zone data for everything else, and for a GSLB service name, the
// addresses picked for the client. It packs the reply, truncating it for UDP, and never
// panics on any input.
//
// It does not parse zone files, rank datacenters or check health: those
// are the zones, geo, routes and health packages. miekg/dns is imported as
// mdns.
package dns
