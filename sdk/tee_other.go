// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package sdk

import "io"

// teeFrom is Linux only (tee(2)); elsewhere ReadFrom copies.
func (s *sender) teeFrom(io.Reader) (int64, bool, error) { return 0, false, nil }
