// SPDX-License-Identifier: Apache-2.0

package sdk

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/timetiles/timetiles-backup/internal/wire"
)

// APIVersion is the newest plugin API version this SDK implements. The host
// and a plugin agree on the highest version both list in Info; see
// docs/plugins.md for what may change within a version.
const APIVersion uint32 = 1

// Plugin kinds.
const (
	KindSource   = wire.KindSource
	KindTarget   = wire.KindTarget
	KindNotifier = wire.KindNotifier
)

// Capabilities a plugin may declare in Info.Capabilities.
const (
	// CapPath: a Source can hand a local directory instead of bytes, or a
	// Target can snapshot and restore a local directory natively.
	CapPath = "path"
	// CapFD: the plugin accepts byte streams as OS pipes. The SDK adds it.
	CapFD = "fd"
	// CapRestoreTest: a Source runs restore tests (RestoreRequest.Scratch):
	// restore into a scratch database, check it, drop it.
	CapRestoreTest = "restore-test"
	// CapSuccessEvents: a Notifier that also wants success events (kinds
	// ending in "_succeeded", see [IsSuccess]). The host sends them only to
	// notifiers declaring it; such a notifier delivers them only when its
	// operator opted in (a key of its own, default off) and otherwise
	// returns no channel and no error. Failures are always delivered.
	CapSuccessEvents = "success-events"
)

// Info describes a plugin.
type Info struct {
	// Name, e.g. "source-postgres".
	Name string
	// Version of the plugin itself.
	Version string
	// Description shown by `timetiles-backup plugins`.
	Description string
	// APIVersions the plugin implements; empty means [APIVersion].
	APIVersions []uint32
	// ConfigKeys lists the configuration variables the plugin reads; the
	// host passes exactly these (from its environment and env file).
	ConfigKeys []ConfigKey
	// Components a Source produces, e.g. "db".
	Components []string
	// ComponentSpecs declares, per component, how it is restored and
	// whether it is backed up first (docs/plugins.md, "Components"). The
	// host decides from these, never from a component's name.
	ComponentSpecs []ComponentSpec
	// Capabilities such as CapPath.
	Capabilities []string
}

// RestoreKind says where a component is restored.
type RestoreKind int

const (
	// RestoreStream: a stream the source consumes, in place unless the
	// operator names a directory (RestoreOptions.ToDirectory, --to). The
	// default of a component that declares nothing.
	RestoreStream RestoreKind = iota
	// RestoreDatabase: into a database, in place unless the operator names
	// another one (RestoreOptions.ToDatabase, --to-database).
	RestoreDatabase
	// RestoreDirectory: into a directory, in place unless the operator
	// names another one (RestoreOptions.ToDirectory, --to).
	RestoreDirectory
)

// String names the kind as docs and messages do.
func (k RestoreKind) String() string {
	switch k {
	case RestoreDatabase:
		return "database"
	case RestoreDirectory:
		return "directory"
	}
	return "stream"
}

// ComponentSpec is what a Source declares about one of its components.
type ComponentSpec struct {
	// Name of the component, as in BACKUP_SOURCES (Configure receives it
	// as Config.Instance).
	Name string
	// Restore says where the component is restored and so which restore
	// flags apply to it.
	Restore RestoreKind
	// BackupFirst backs the component up (and restores it) before every
	// component that does not declare it: a database whose rows refer to
	// files of a directory that only grows is dumped before the directory
	// is snapshotted, so every file a row refers to is in the same run.
	BackupFirst bool
}

// Spec returns what i declares for component c (the zero ComponentSpec,
// a stream backed up in BACKUP_SOURCES order, when nothing).
func (i Info) Spec(c string) ComponentSpec {
	for _, s := range i.ComponentSpecs {
		if s.Name == c {
			return s
		}
	}
	return ComponentSpec{Name: c}
}

// ConfigKey describes one configuration variable.
type ConfigKey struct {
	Name        string
	Secret      bool
	Description string
	Default     string
	// Executable marks a value that names a program, a directory of
	// programs or a shell command the plugin runs. As root, the host
	// refuses such a value from an env file that a user other than root
	// could change (docs/operator-guide.md, "Root runs only root's code").
	Executable bool
	// WrittenPath marks a value that names a file or a directory the
	// plugin writes to (a log, a state file). As root, the host refuses
	// such a value from an env file that a user other than root could
	// change, like Executable: whoever sets it could have root overwrite
	// any file.
	WrittenPath bool
}

// Config is what the host passes to Configure.
type Config struct {
	// Instance distinguishes several instances of one plugin, e.g. a
	// target's "local" and "offsite" repositories.
	Instance string
	// Values holds the declared keys that are set.
	Values map[string]string
	// APIVersion is the version the host chose.
	APIVersion uint32
}

// Get returns a value, or "" when it is not set.
func (c Config) Get(key string) string { return c.Values[key] }

// GetDefault returns a value, or def when it is not set or empty.
func (c Config) GetDefault(key, def string) string {
	if v := c.Values[key]; v != "" {
		return v
	}
	return def
}

// Header opens a stream.
type Header struct {
	// Component, e.g. "db" or "uploads".
	Component string
	// FileName of the stream inside a snapshot, e.g. "timetiles.pgdump".
	FileName string
	// MediaType of the bytes, e.g. "application/x-postgresql-custom".
	MediaType string
	// Metadata recorded with the stream.
	Metadata map[string]string
	// LocalPath is set for directory streams (CapPath): the directory
	// itself travels, not bytes.
	LocalPath string
	// RunID, Tags, Host and Time are set by the host for targets.
	RunID string
	Tags  []string
	Host  string
	Time  time.Time
}

// Plugin is what every plugin implements.
type Plugin interface {
	Info() Info
	// Configure is called once after start, before any other call.
	Configure(ctx context.Context, cfg Config) error
}

// BackupRequest asks a Source for one component.
type BackupRequest struct {
	Component string
}

// BackupStream is where a Source sends a component.
type BackupStream interface {
	// Start sends the header and returns the writer for the bytes. The SDK
	// counts and checksums them; the trailer is sent when Backup returns.
	Start(h Header) (io.Writer, error)
	// AcceptsPath reports whether the receiver takes a local directory.
	AcceptsPath() bool
	// SendPath hands a local directory instead of bytes (only when
	// AcceptsPath is true). Files is the number of files, for the record.
	SendPath(h Header, dir string) error
}

// RestoreRequest says what to restore and where.
type RestoreRequest struct {
	Component string
	// ToDatabase restores into another database than the configured one.
	ToDatabase string
	// ToDirectory restores into another directory than the configured one.
	ToDirectory string
	// ReplaceDatabase: with ToDatabase, an existing database of that name
	// that is not empty may be replaced; without it, it must be refused.
	ReplaceDatabase bool
	// Scratch asks for a restore test (CapRestoreTest): restore into
	// ToDatabase, which must not exist yet, check the result and remove it
	// again whatever happened; an error means the test failed.
	Scratch bool
	// Header of the stream being restored.
	Header Header
}

// Source produces and restores the bytes of components.
type Source interface {
	Plugin
	// Backup produces req.Component through out. Returning an error marks
	// the stream failed: no target commits it.
	Backup(ctx context.Context, req BackupRequest, out BackupStream) error
	// Restore consumes a stream produced by Backup. r returns io.EOF only
	// after a successful trailer; on any other error nothing may be left
	// half-restored where that can be avoided (e.g. roll back).
	Restore(ctx context.Context, req RestoreRequest, r io.Reader) error
}

// PathSource is a Source that can restore directory snapshots natively: it
// names the directory a Target restores into.
type PathSource interface {
	Source
	RestorePath(ctx context.Context, req RestoreRequest) (string, error)
}

// StagingPathSource is a PathSource whose native restores are
// all-or-nothing: when the host allows it, StageRestorePath names a staging
// directory (on the destination's file system) for the Target to restore
// into, and FinishRestorePath, called after the Target's restore, swaps it
// in (commit) or removes it (the destination then stays exactly as it
// was). Hosts that predate FinishRestorePath call RestorePath instead.
type StagingPathSource interface {
	PathSource
	StageRestorePath(ctx context.Context, req RestoreRequest) (string, error)
	FinishRestorePath(ctx context.Context, req RestoreRequest, path string, commit bool) error
}

// Snapshot is one stored stream.
type Snapshot struct {
	ID        string
	Time      time.Time
	Host      string
	Tags      []string
	Paths     []string
	Component string
	RunID     string
	Size      uint64
	FileName  string
	// BytesAdded is what the backup that made the snapshot added to the
	// repository (after deduplication); 0 when the target does not know.
	BytesAdded uint64
}

// WriteResult is what a Target returns for a committed stream.
type WriteResult struct {
	Snapshot   Snapshot
	BytesAdded uint64
}

// ReadRequest asks a Target for a stored stream.
type ReadRequest struct {
	SnapshotID string
	// LocalPath, when set, asks for a native restore of a directory
	// snapshot into this directory (CapPath).
	LocalPath string
}

// ReadStream is where a Target sends a stored stream back.
type ReadStream interface {
	Start(h Header) (io.Writer, error)
}

// KeepPolicy is a retention policy.
type KeepPolicy struct{ Daily, Weekly, Monthly int }

// PruneRequest applies a retention policy.
type PruneRequest struct {
	Keep   KeepPolicy
	DryRun bool
	Host   string
	Tags   []string
	// Forget lists the snapshot IDs to remove, chosen by the host's
	// run-aware retention (a run's snapshots are kept or removed together).
	// When set, Keep is informational: forget exactly these, then remove
	// the data no longer referenced.
	Forget []string
}

// PruneResult lists what was kept and removed.
type PruneResult struct {
	Kept, Removed []Snapshot
}

// VerifyRequest checks a repository.
type VerifyRequest struct {
	// ReadDataSubset, e.g. "5%"; empty checks structure only.
	ReadDataSubset string
}

// Target stores streams as snapshots.
type Target interface {
	Plugin
	// Init creates the repository if it does not exist. When
	// InitOpensNext(ctx) is true the caller opens the repository right
	// after (a backup run): Init may then skip checking that an existing
	// repository opens with the configured credentials.
	Init(ctx context.Context) (created bool, err error)
	// Write stores one stream. r returns io.EOF only after the source's
	// successful trailer: commit then, and only then. Any other error from
	// r, or a cancelled ctx, means abort: store nothing. For a directory
	// stream (h.LocalPath set) r is nil.
	Write(ctx context.Context, h Header, r io.Reader) (WriteResult, error)
	List(ctx context.Context, tags []string) ([]Snapshot, error)
	// Read sends a snapshot back through out, or restores it natively when
	// req.LocalPath is set.
	Read(ctx context.Context, req ReadRequest, out ReadStream) error
	Prune(ctx context.Context, req PruneRequest) (PruneResult, error)
	Verify(ctx context.Context, req VerifyRequest) (string, error)
}

// CopyRequest asks a Target to copy snapshots from the repository of
// another instance of the same plugin (e.g. "local" into "offsite").
type CopyRequest struct {
	FromInstance string
	SnapshotIDs  []string
}

// CopyResult maps each requested snapshot ID to its copy in the receiving
// repository.
type CopyResult struct {
	Copied map[string]Snapshot
	// Warning, when set, says the copies work but not as well as they
	// could (e.g. the repositories chunk differently: no deduplication).
	Warning string
}

// CopyTarget is a Target that copies snapshots between two instances'
// repositories (the host's offsite catch-up). Optional: the host skips the
// catch-up, with a message, for a target without it.
type CopyTarget interface {
	Target
	// Copy copies every requested snapshot whole (time, host and tags
	// kept); a snapshot copied earlier is not copied again but reported
	// with its existing copy.
	Copy(ctx context.Context, req CopyRequest) (CopyResult, error)
}

// Event is something a Notifier delivers.
type Event struct {
	Kind       string // backup_failed, restore_failed, verify_failed, offsite_failed, test; backup_succeeded (CapSuccessEvents)
	Severity   string // error, warning, info
	Subject    string
	Body       string
	Component  string
	RunID      string
	Repository string
	Error      string
	Hostname   string
	Time       time.Time
}

// IsSuccess reports whether an event reports a success (backup_succeeded…):
// sent only to notifiers declaring CapSuccessEvents, delivered only when
// the operator opted in.
func IsSuccess(e Event) bool { return strings.HasSuffix(e.Kind, "_succeeded") }

// Notifier delivers events.
type Notifier interface {
	Plugin
	// Notify returns the channels that delivered the event. An error means
	// at least one configured channel failed.
	Notify(ctx context.Context, e Event) (delivered []string, err error)
}

type opensNextKey struct{}

// InitOpensNext reports whether the caller of Target.Init opens the
// repository right after the call (a backup run does), so that checking
// that an existing repository opens with the configured credentials may be
// left to that operation. A target for which the check is cheap may ignore
// it; target-restic skips a key derivation (~0.6 s of CPU) per backup.
func InitOpensNext(ctx context.Context) bool {
	v, _ := ctx.Value(opensNextKey{}).(bool)
	return v
}

type paramsFromKey struct{}

// InitParamsFrom returns the instance whose repository's storage parameters
// Target.Init should give a repository it creates (restic: the chunker
// parameters), so that copies between the two deduplicate; "" for none.
// An existing repository is left as it is.
func InitParamsFrom(ctx context.Context) string {
	v, _ := ctx.Value(paramsFromKey{}).(string)
	return v
}

// WithInitParamsFrom marks ctx for Target.Init as InitParamsFrom reads it.
func WithInitParamsFrom(ctx context.Context, instance string) context.Context {
	return context.WithValue(ctx, paramsFromKey{}, instance)
}

// WithInitOpensNext marks ctx for Target.Init as InitOpensNext does (the
// SDK's server sets it from InitRequest.opens_next; tests call it directly).
func WithInitOpensNext(ctx context.Context) context.Context {
	return context.WithValue(ctx, opensNextKey{}, true)
}
