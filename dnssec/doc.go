// Package dnssec owns Godwit's DNSSEC material and the signing of answers:
// BIND-format key files (K<zone>+<alg>+<id>.key/.private) loaded from the
// directory named by [dnssec] keys_dir, the DNSKEY RRset and the DS records
// of each signed zone, online signing of RRsets (static and GSLB alike) with
// a bounded signature cache whose hits allocate nothing, and compact denial
// of existence (RFC 9824) for NXDOMAIN and NODATA answers.
//
// It does not own zone data or the choice of what goes in an answer: the
// DNS handler takes RRsets from zones.Set, asks a Signer for their RRSIGs
// and for the NSEC that proves a negative answer, and decides about the DO
// bit, truncation and the response code. The package imports only the
// standard library and miekg/dns; it knows nothing of zones, geo or health.
//
// Supported algorithms: 13 (ECDSAP256SHA256) and 15 (ED25519). A zone is
// signed with a combined signing key (CSK) or a KSK (flags 257) and ZSK
// (flags 256) pair; BIND's timing metadata (Publish, Activate, Inactive,
// Delete) decides which keys are published and which sign.
package dnssec
