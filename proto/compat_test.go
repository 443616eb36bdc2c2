// SPDX-License-Identifier: Apache-2.0

// Package proto_test checks the plugin protocol's compatibility policy
// (docs/plugins.md, "Versioning") with buf: the protocol may grow, but
// what released plugins rely on may not change.
package proto_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/internal/testenv"
)

// released is the image of the last released protocol; scripts/test.sh
// runs `buf breaking --against` it in CI.
const released = "proto/released/timetiles-backup-v1.binpb"

// breaking copies buf.yaml and proto/ into a temporary directory, applies
// edit to one .proto file there, and runs buf breaking against the
// released image. It returns buf's output and whether it passed.
func breaking(t *testing.T, file string, edit func(string) string) (string, bool) {
	t.Helper()
	buf := testenv.Tool(t, "buf")
	root := testenv.RepoRoot()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", filepath.Join(root, "proto"), filepath.Join(root, "buf.yaml"), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if file != "" {
		p := filepath.Join(dir, "proto", "timetiles", "backup", "v1", file)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		changed := edit(string(b))
		if changed == string(b) {
			t.Fatalf("the edit of %s changed nothing", file)
		}
		if err := os.WriteFile(p, []byte(changed), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(buf, "breaking", "--against", filepath.Join(root, released))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return string(out), err == nil
}

func TestCurrentProtocolIsCompatibleWithTheReleasedOne(t *testing.T) {
	if out, ok := breaking(t, "", nil); !ok {
		t.Fatalf("the protocol breaks the released API v1 (see docs/plugins.md, Versioning):\n%s", out)
	}
}

// What the policy allows within an API version: new fields, new RPCs.
func TestAddingAFieldOrAnRPCIsCompatible(t *testing.T) {
	out, ok := breaking(t, "common.proto", func(s string) string {
		return strings.Replace(s, "  repeated string components = 8;\n", "  repeated string components = 8;\n  string homepage = 99;\n", 1)
	})
	if !ok {
		t.Fatalf("adding a field was reported as breaking:\n%s", out)
	}
	out, ok = breaking(t, "notifier.proto", func(s string) string {
		return s + "\nservice ConformanceExtraService {\n  rpc Ping(PingRequest) returns (PingResponse);\n}\n\nmessage PingRequest {}\n\nmessage PingResponse {}\n"
	})
	if !ok {
		t.Fatalf("adding a service was reported as breaking:\n%s", out)
	}
}

// What needs a new API version: removing or renumbering a field, changing
// its type. buf breaking catches each, so it cannot land unnoticed.
func TestBreakingChangesAreCaught(t *testing.T) {
	for _, tc := range []struct {
		name, file, from, to, want string
	}{
		{"removed field", "common.proto", "  repeated string components = 8;\n", "", `Previously present field "8" with name "components" on message "PluginInfo" was deleted`},
		{"renumbered field", "common.proto", "string plugin_version = 3;", "string plugin_version = 30;", `"3" with name "plugin_version"`},
		{"changed type", "common.proto", "bool secret = 2;", "string secret = 2;", `changed type from "bool" to "string"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := breaking(t, tc.file, func(s string) string { return strings.Replace(s, tc.from, tc.to, 1) })
			if ok {
				t.Fatalf("buf breaking passed a %s", tc.name)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("buf breaking failed without naming the change %q:\n%s", tc.want, out)
			}
		})
	}
}
