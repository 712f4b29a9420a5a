// Package health owns health checking: checkers (http, https, tcp, dns, exec,
// file), rise/fall state machines, admin overrides, and the immutable View
// that queries read. It does not decide answers; zones.Select filters by View.
//
// A Checker probes every distinct (check, probed address) pair once, every
// interval ±10%. Each probe starts Unknown (served as up); its first result
// decides directly (up on success, down on failure); after that it goes down
// after fall consecutive failures and up after rise consecutive successes.
// Admin overrides (an address, then a datacenter) beat the probes; they live
// in a state file that SetOverride rewrites atomically. Every change builds a
// new View and publishes it with one atomic store; View.Lookup neither locks
// nor allocates.
package health
