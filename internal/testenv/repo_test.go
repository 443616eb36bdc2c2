// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNewRepoOpensCheaplyWithThePinnedRestic: the repositories NewRepo
// makes carry restic's test KDF parameters in their key file, open with
// the pinned release restic (and only with their password), are format
// version 2, and each has its own ID.
func TestNewRepoOpensCheaplyWithThePinnedRestic(t *testing.T) {
	t.Parallel()
	restic := Tool(t, "restic")
	dir := t.TempDir()
	config := func(repo, password string) (map[string]any, error) {
		cmd := exec.Command(restic, "--no-cache", "cat", "config")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "RESTIC_REPOSITORY=" + repo, "RESTIC_PASSWORD=" + password}
		out, err := cmd.Output()
		if err != nil {
			return nil, err
		}
		var c map[string]any
		return c, json.Unmarshal(out, &c)
	}
	ids := map[string]bool{}
	for _, name := range []string{"a", "b"} {
		repo := filepath.Join(dir, name)
		NewRepo(t, repo, "pw-"+name)
		keys, err := filepath.Glob(filepath.Join(repo, "keys", "*"))
		if err != nil || len(keys) != 1 {
			t.Fatalf("%s: keys %v %v, want one", repo, keys, err)
		}
		data, err := os.ReadFile(keys[0])
		if err != nil {
			t.Fatal(err)
		}
		var key struct {
			KDF     string
			N, R, P int
		}
		if err := json.Unmarshal(data, &key); err != nil {
			t.Fatal(err)
		}
		if key.KDF != "scrypt" || key.N != 128 || key.R != 1 || key.P != 1 {
			t.Errorf("%s: key %+v, want scrypt N=128 r=1 p=1", repo, key)
		}
		c, err := config(repo, "pw-"+name)
		if err != nil {
			t.Fatalf("the pinned restic does not open %s: %v", repo, err)
		}
		if v, _ := c["version"].(float64); v != 2 {
			t.Errorf("%s: repository version %v, want 2", repo, c["version"])
		}
		id, _ := c["id"].(string)
		if id == "" || ids[id] {
			t.Errorf("%s: repository ID %q empty or shared with another", repo, id)
		}
		ids[id] = true
		if _, err := config(repo, "wrong"); err == nil || !strings.Contains(err.Error(), "exit status") {
			t.Errorf("%s opens with a wrong password: %v", repo, err)
		}
	}
}
