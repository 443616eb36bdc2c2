// SPDX-License-Identifier: Apache-2.0

package plugin

import (
	"os"

	"github.com/timetiles/timetiles-backup/internal/wire"
	"github.com/timetiles/timetiles-backup/sdk"
)

// ServeInProcess serves impl, a plugin of the given kind, inside the calling
// process (sdk.ServeInProcess) and returns the host's client for it, with an
// fd channel when fd is true: a plugin as Launch would return it, without
// the process, for tests and the conformance kit (sdk/conformance). stop
// cancels the calls in flight and stops the server.
func ServeInProcess(kind string, impl sdk.Plugin, fd bool) (c *wire.Client, stop func(), err error) {
	var fdc *wire.FDChannel
	var child *os.File
	if fd {
		if fdc, child, err = wire.NewFDChannelPair(); err != nil {
			return nil, nil, err
		}
	}
	conn, stopServer, err := sdk.ServeInProcess(kind, impl, child)
	if err != nil {
		if fdc != nil {
			fdc.Close()
		}
		return nil, nil, err
	}
	c = wire.NewClient(kind, conn)
	c.FD = fdc
	return c, func() {
		stopServer()
		if fdc != nil {
			fdc.Close()
		}
	}, nil
}
