// Package e2e drives the built binaries (notifyd, notifyctl, lsq-sandbox)
// through their external contract, against a private redis-server, as an
// outside user would.
package e2e
