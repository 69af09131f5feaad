// Package leadsquaredtest runs a local LeadSquared for tests, in the style of
// net/http/httptest: the notification APIs and the key check, LeadSquared's
// rate limit (25 calls per sliding 5 s unless configured) and its answers,
// strict validation of bodies, and faults on demand.
//
// # Use
//
//	srv := leadsquaredtest.Start(t, leadsquaredtest.Config{Limit: 5})
//	client, err := srv.Client()
//	// … exercise code that takes a *leadsquared.Client …
//	st := srv.Stats() // calls, statuses, refs delivered, duplicates, the peak per window
//
// [NewServer] is the same without a testing.TB; close it with [Server.Close].
//
// # Faults
//
// [Faults] inject 500s, slow answers, calls that are delivered but never
// answered, bursts of 429s, an outage (503) and scripted answers for chosen
// refs. Set them in Config.Faults or at run time with [Server.SetFaults].
//
// # Keys
//
// When Config leaves both keys empty, the server generates a pair and
// requires it, so that [Server.Client] works and a client with other keys
// gets 401. Keys are never recorded: a Call names its key by a short hash.
//
// The server binds a loopback port only. The same server runs as a program
// in cmd/lsq-sandbox.
package leadsquaredtest
