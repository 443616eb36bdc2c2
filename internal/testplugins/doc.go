// SPDX-License-Identifier: Apache-2.0

// Package testplugins holds plugins used by the host's tests and benchmarks:
// a synthetic source whose size and failure point are configurable, a
// database-like source of a component the host knows nothing about
// (source-minidb, component "ledger"), and a target that stores streams as
// files in a directory (or discards them).
// They are real plugin processes built with the SDK, like third-party ones.
package testplugins
