package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvFileParseErrorNamesLineNotSecret(t *testing.T) {
	const secret = "s3cr3t-Value-9"
	for _, tc := range []struct{ file, want string }{
		{"A=1\nRESTIC_PASSWORD=\"" + secret + "\nB=2\n", "line 2 (RESTIC_PASSWORD) has a quote that is never closed"},
		{"A=1\n# comment\nBAD LINE " + secret + "\n", "line 3 is not NAME=value"},
		{"M=\"multi\nline\"\nRESTIC_PASSWORD='" + secret + "\n", "line 3 (RESTIC_PASSWORD) has a quote"},
	} {
		p := filepath.Join(t.TempDir(), "env")
		os.WriteFile(p, []byte(tc.file), 0o600)
		_, err := LoadConfig(p, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[:6]) {
			t.Errorf("%q: %v (want %q and no secret)", tc.file, err, tc.want)
		}
	}
}
