// SPDX-License-Identifier: Apache-2.0

// Package conformance checks a timetiles-backup plugin against the plugin
// contract, in the spirit of restic's backend test suite: a plugin author
// imports it in their own tests, describes how to configure a working (and
// a failing) instance, and gets one subtest per rule of the contract.
//
//	func TestConformance(t *testing.T) {
//		bin := conformance.Build(t, ".", "source-mysql")
//		conformance.RunSource(t, conformance.SourceFixture{
//			Binary:        bin,
//			Config:        func(t *testing.T) map[string]string { return map[string]string{"MYSQL_URL": url} },
//			FailingConfig: func(t *testing.T) map[string]string { return map[string]string{"MYSQL_URL": badURL} },
//		})
//	}
//
// A plugin is checked either as a built binary (Binary), launched exactly as
// timetiles-backup launches it — go-plugin with AutoMTLS, no host
// environment, the declared configuration keys only, an fd channel for OS
// pipes — or as an in-process implementation (New) served by the SDK's own
// server code over a local gRPC connection. Every check that moves bytes
// runs over both paths the host uses: an OS pipe handed to the plugin
// ("pipe") and gRPC chunks ("grpc").
//
// What is checked:
//
//   - Source: the backup stream is well-framed (header first, exactly one
//     trailer, nothing after it); the trailer's size and SHA-256 match the
//     bytes; a failing producer reports failure in the trailer; cancelling
//     the call stops the producer and every child process it started, even
//     while the receiver has stopped reading; the plugin still works
//     afterwards; restore accepts what backup produced, and an aborted
//     restore fails and leaves the data as it was.
//   - Target: Init is idempotent; list and read return what was written,
//     byte for byte, with its tags, host and time; nothing is committed
//     without a successful trailer — an aborted or cancelled write and a
//     trailer whose checksum does not match leave no snapshot; an unknown
//     snapshot is sdk.ErrNotFound; a denied operation is
//     sdk.ErrPermissionDenied.
//   - Notifier: events are delivered (the fixture confirms they arrived);
//     a failing channel is reported as an error, not swallowed.
//   - Every kind, when it implements sdk.Checker: Check answers within
//     CheckDeadline with named findings, each error with its fix, and no
//     error under the working configuration; a source reports its
//     FailingConfig as an error.
//
// The kit needs Linux (/proc, pipes passed over unix sockets), like the
// host. It starts a plugin with host/plugin's Launch, as the host does;
// host/plugin leaves the host's configuration (and its env file parser)
// out, so a plugin's module needs none of the host's dependencies.
package conformance
