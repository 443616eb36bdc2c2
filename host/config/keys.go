// SPDX-License-Identifier: Apache-2.0

package config

import (
	"sort"

	"github.com/timetiles/timetiles-backup/sdk"
)

// Variables the host reads itself. Plugins declare theirs in
// Info.ConfigKeys; `timetiles-backup config` shows the union of both.
const (
	EnvEnvFile            = "TIMETILES_ENV_FILE"
	EnvTransport          = "TIMETILES_BACKUP_TRANSPORT"
	EnvPreRestoreCommand  = "BACKUP_PRE_RESTORE_COMMAND"
	EnvPostRestoreCommand = "BACKUP_POST_RESTORE_COMMAND"
	EnvMetricsFile        = "BACKUP_METRICS_FILE"
	EnvLogFile            = "BACKUP_LOG_FILE"
	EnvCronFile           = "BACKUP_CRON_FILE"
	EnvSystemdDir         = "BACKUP_SYSTEMD_DIR"
	EnvMaxAge             = "BACKUP_MAX_AGE"
)

// EnvPluginDir names the plugin directory searched first.
const EnvPluginDir = "TIMETILES_BACKUP_PLUGIN_DIR"

// EnvSearchPath, set to 1 (or true, yes), makes a run as root search
// $PATH for plugins too. Users other than root always search $PATH; root
// does not by default, because a directory on root's $PATH that another
// user can write would let that user plant a plugin (which receives
// RESTIC_PASSWORD). Even then, as root, a plugin found there runs only if
// nobody but root can change it (host/plugin/trust.go).
const EnvSearchPath = "TIMETILES_BACKUP_SEARCH_PATH"

// Defaults for the plugin wiring; operators and third parties change them
// with BACKUP_SOURCES, BACKUP_TARGET and BACKUP_NOTIFIERS.
const (
	DefaultSources   = "db=source-postgres,uploads=source-volume"
	DefaultTarget    = "target-restic"
	DefaultNotifiers = "notify-alert"
)

// Retention variables and their defaults (the design's 7/4/12).
const (
	EnvKeepDaily   = "BACKUP_KEEP_DAILY"
	EnvKeepWeekly  = "BACKUP_KEEP_WEEKLY"
	EnvKeepMonthly = "BACKUP_KEEP_MONTHLY"
)

// EnvVerifySubset is the default share of pack data `backup verify` reads
// (restic check --read-data-subset).
const (
	EnvVerifySubset     = "BACKUP_VERIFY_READ_DATA_SUBSET"
	DefaultVerifySubset = "5%"
)

// DefaultStateDir holds the run lock files.
const DefaultStateDir = "/var/lib/timetiles-backup"

// EnvStateDir overrides DefaultStateDir.
const EnvStateDir = "BACKUP_STATE_DIR"

// EnvHealthcheckURL is the dead-man's switch: a healthchecks.io-compatible
// check URL pinged by backup, prune and verify.
const EnvHealthcheckURL = "BACKUP_HEALTHCHECK_URL"

// HostKeys describes every variable the host reads (not the plugins').
// A test (cmd/timetiles-backup/envexample_test.go) finds every such name in
// the host's and CLI's code and fails when one is missing here or in
// examples/env.production.example.
var HostKeys = []sdk.ConfigKey{
	{Name: EnvEnvFile, Default: DefaultEnvFile + " (when it exists)", Description: "env file to read; the process environment wins over it (environment only)"},
	{Name: EnvPluginDir, Description: "directory searched first for plugins (before the executable's directory, ../lib/timetiles-backup and, for users other than root, $PATH); as root it must be root's alone (docs/operator-guide.md)", Executable: true},
	{Name: EnvSearchPath, Description: "1: search $PATH for plugins also when run as root (users other than root always do); a plugin found there still runs only if nobody but root can change it", Executable: true},
	{Name: sdk.EnvLogLevel, Default: "info", Description: "log level of the host and the plugins: trace, debug, info, warn or error"},
	{Name: EnvTransport, Description: `"grpc" sends stream bytes as gRPC chunks instead of OS pipes (portable fallback, slower)`},
	{Name: sdk.EnvCPUProfile, Description: "directory where the CLI and every plugin write a pprof CPU profile, <program>-<pid>.cpu.pprof, for diagnosing speed (docs/performance.md; environment only)"},
	{Name: "BACKUP_PLUGIN_CHECKSUMS", Description: "pins plugin binaries: name=sha256hex,… ; a plugin whose SHA-256 differs is refused"},
	{Name: "BACKUP_SOURCES", Default: DefaultSources, Description: "components and the source plugin of each: component=plugin,…"},
	{Name: "BACKUP_TARGET", Default: DefaultTarget, Description: "target plugin holding the local and offsite repositories"},
	{Name: "BACKUP_NOTIFIERS", Default: DefaultNotifiers, Description: "notifier plugins that deliver alerts, comma-separated"},
	{Name: "BACKUP_HOSTNAME", Default: "the machine's host name", Description: "host name recorded in snapshots; keep it fixed so retention groups never split"},
	{Name: "BACKUP_CHECKSUM", Default: sdk.DefaultChecksum, Description: "checksum of every stream, recorded in the run manifest and checked on restore: " + sdk.ChecksumXXH3 + " or " + sdk.ChecksumSHA256},
	{Name: "BACKUP_OFFSITE_STALL_TIMEOUT", Default: "5m", Description: "abort the offsite copy (only it) when it accepts no data for this long, or does not answer or finish storing for this long"},
	{Name: EnvKeepDaily, Default: "7", Description: "backup prune keeps the newest run of each of the last N days that have one (per component; 0 turns the rule off)"},
	{Name: EnvKeepWeekly, Default: "4", Description: "backup prune keeps the newest run of each of the last N ISO weeks that have one"},
	{Name: EnvKeepMonthly, Default: "12", Description: "backup prune keeps the newest run of each of the last N months that have one"},
	{Name: EnvVerifySubset, Default: DefaultVerifySubset, Description: "share of the stored data backup verify reads (restic check --read-data-subset): 5%, 1/10, 500M or none"},
	{Name: EnvStateDir, Default: DefaultStateDir, Description: "directory of the run lock (one backup, prune, restore or verify at a time) and of the state file status reads (last backup, verify and restore drill)", WrittenPath: true},
	{Name: EnvMaxAge, Default: DefaultMaxAge, Description: "status exits 1 when the newest complete run of a component is older than this (a Go duration: 26h, 90m, 8h30m)"},
	{Name: EnvPreRestoreCommand, Description: "shell command run before an in-place restore, e.g. to stop TimeTiles: cd /opt/timetiles && docker compose stop web worker-ingest worker-general worker-maintenance", Executable: true},
	{Name: EnvPostRestoreCommand, Description: "shell command run after an in-place restore, also when it failed, e.g. cd /opt/timetiles && docker compose start web worker-ingest worker-general worker-maintenance", Executable: true},
	{Name: EnvMetricsFile, Description: "Prometheus textfile written (atomically) after every backup run and kept current by backup verify and status, e.g. /var/lib/prometheus/node-exporter/timetiles_backup.prom", WrittenPath: true},
	{Name: EnvHealthcheckURL, Secret: true, Description: "dead-man's switch: a healthchecks.io-compatible check URL; backup, prune and verify POST URL/start, then URL or URL/fail with their summary (a ping waits at most 10 s and never fails the job)"},
	{Name: EnvLogFile, Default: DefaultLogFile, Description: "log file the cron jobs of backup auto append to (its systemd timers log to the journal)", WrittenPath: true},
	{Name: EnvCronFile, Default: DefaultCronFile, Description: "cron file `backup auto` writes when run as root", WrittenPath: true},
	{Name: EnvSystemdDir, Default: DefaultSystemdDir, Description: "directory `backup auto --systemd` writes its units to", WrittenPath: true},
}

// DefaultMaxAge is BACKUP_MAX_AGE's default: a daily job plus two hours.
const DefaultMaxAge = "26h"

// Defaults of the scheduling keys.
const (
	DefaultLogFile    = "/var/log/timetiles/backup.log"
	DefaultCronFile   = "/etc/cron.d/timetiles-backup"
	DefaultSystemdDir = "/etc/systemd/system"
)

// KnownKey is a configuration variable with the readers that declared it.
type KnownKey struct {
	sdk.ConfigKey
	// UsedBy names "host" and/or the plugins that read the key.
	UsedBy []string
}

// KnownKeys merges the host's keys with every plugin's declared keys,
// sorted by name. The first description and default seen win.
func KnownKeys(plugins []sdk.Info) []KnownKey {
	by := map[string]*KnownKey{}
	add := func(k sdk.ConfigKey, who string) {
		kk, ok := by[k.Name]
		if !ok {
			kk = &KnownKey{ConfigKey: k}
			by[k.Name] = kk
		}
		if kk.Default == "" {
			kk.Default = k.Default
		}
		kk.Secret = kk.Secret || k.Secret
		for _, u := range kk.UsedBy {
			if u == who {
				return
			}
		}
		kk.UsedBy = append(kk.UsedBy, who)
	}
	for _, k := range HostKeys {
		add(k, "host")
	}
	for _, p := range plugins {
		for _, k := range p.ConfigKeys {
			add(k, p.Name)
		}
	}
	out := make([]KnownKey, 0, len(by))
	for _, k := range by {
		out = append(out, *k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
