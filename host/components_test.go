// SPDX-License-Identifier: Apache-2.0

package host

import (
	"errors"
	"testing"

	"github.com/timetiles/timetiles-backup/host/config"
)

func TestSourceMapValidation(t *testing.T) {
	r := &Runner{Cfg: config.NewConfig(map[string]string{"BACKUP_SOURCES": "db=source-postgres,mysql=source-mysql"})}
	order, m, err := r.SourceMap()
	if err != nil || len(order) != 2 || m["mysql"] != "source-mysql" {
		t.Fatalf("%v %v %v", order, m, err)
	}
	for _, bad := range []string{"db", "db=", "=x", "db=a,db=b"} {
		r := &Runner{Cfg: config.NewConfig(map[string]string{"BACKUP_SOURCES": bad})}
		if _, _, err := r.SourceMap(); !errors.Is(err, config.ErrConfig) {
			t.Errorf("BACKUP_SOURCES=%q accepted", bad)
		}
	}
}
