// SPDX-License-Identifier: Apache-2.0

package wire

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// ProtocolVersion is the go-plugin handshake version. It changes only when
// the transport itself changes incompatibly; API changes are negotiated
// with Info's API versions (see docs/plugins.md).
const ProtocolVersion = 1

// Handshake is shared by the host and every plugin. The cookie only keeps a
// plugin binary from being run by hand; it is not a security measure.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "TIMETILES_BACKUP_PLUGIN",
	MagicCookieValue: "d3b1c9e4-backup-plugin",
}

// clientPlugin is the host's side of one kind in go-plugin: it dispenses a
// *Client. The plugin's side (the servers) is package sdk's.
type clientPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	kind string
}

func (p *clientPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("wire: the host side does not serve plugins")
}

func (p *clientPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return NewClient(p.kind, c), nil
}

// PluginSet is what the host registers with go-plugin: one entry a kind,
// each dispensing a *Client.
func PluginSet() plugin.PluginSet {
	return plugin.PluginSet{
		KindSource:   &clientPlugin{kind: KindSource},
		KindTarget:   &clientPlugin{kind: KindTarget},
		KindNotifier: &clientPlugin{kind: KindNotifier},
	}
}
