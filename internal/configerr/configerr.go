// SPDX-License-Identifier: Apache-2.0

// Package configerr is the host's configuration error kind (exit code 2),
// alone in a package so that host/plugin can return it without importing
// host/config and its env file parser: the conformance kit (sdk/conformance)
// imports host/plugin, and a plugin's module should not need the host's
// dependencies. host/config re-exports both names (config.ErrConfig,
// config.Configf).
package configerr

import (
	"errors"
	"fmt"
)

// ErrConfig marks configuration errors (exit code 2).
var ErrConfig = errors.New("configuration error")

// Errorf returns a configuration error.
func Errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}
