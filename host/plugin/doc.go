// SPDX-License-Identifier: Apache-2.0

// Package plugin finds and runs plugins for the host: discovery (the
// directories searched, the candidates found), trust (what root runs,
// checksum pins), launch (go-plugin over gRPC, the fd channel, API
// versions, Configure) and the typed clients of the calls that carry no
// stream bytes (clients.go). Moving a stream's bytes is host/stream's job.
package plugin
