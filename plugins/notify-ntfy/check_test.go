// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"strings"
	"testing"

	"github.com/timetiles/timetiles-backup/sdk"
)

// TestCheck: the notifier names the server of its topic, never the topic
// or the token, and publishes nothing.
func TestCheck(t *testing.T) {
	srv := startNtfy(t)
	n := &notifier{}
	if err := n.Configure(context.Background(), sdk.Config{Values: map[string]string{keyURL: srv.URL + "/secret-topic-name", keyToken: "tk_secret"}}); err != nil {
		t.Fatal(err)
	}
	fs, err := n.Check(context.Background())
	if err != nil || len(fs) != 1 || fs[0].Severity != sdk.SeverityOK || fs[0].Detail != "publishes to a topic on "+srv.URL+" (with an access token)" {
		t.Fatalf("Check = %v, %v", fs, err)
	}
	if s := fs[0].String(); strings.Contains(s, "secret-topic-name") || strings.Contains(s, "tk_secret") {
		t.Errorf("the finding shows a secret: %s", s)
	}
	if got := srv.messages(); len(got) != 0 {
		t.Errorf("Check published %d message(s)", len(got))
	}
}
