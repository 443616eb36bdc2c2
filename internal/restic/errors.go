package restic

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Kind classifies why a restic command failed.
//
// Kind implements error so that errors.Is(err, restic.KindLocked) works on any
// error returned by this package; the Is* helpers below are shorthands.
type Kind int

const (
	// KindOther is any failure not recognised below (exit code 1 and
	// unrecognised text, start failures, unparsable output, ...).
	KindOther Kind = iota
	// KindRepoMissing: there is no repository at the location (exit code 10
	// on restic ≥ 0.17; text on 0.16).
	KindRepoMissing
	// KindLocked: the repository is locked by another process (exit code 11
	// on restic ≥ 0.17; text on 0.16).
	KindLocked
	// KindWrongPassword: the password opens no key of the repository (exit
	// code 12 on restic ≥ 0.17.1; text before).
	KindWrongPassword
	// KindPermissionDenied: the backend refused an operation (S3 Access
	// Denied, rest-server 401/403, local EACCES). On write-only (append-only)
	// repositories this is expected for forget/prune.
	KindPermissionDenied
	// KindIncomplete: exit code 3, a snapshot was written but some source
	// files could not be read. Error.SnapshotID names the snapshot.
	KindIncomplete
	// KindInterrupted: restic was interrupted (exit 130, or killed by this
	// package because the context was cancelled or the stdin source failed).
	// No snapshot was written by an interrupted backup.
	KindInterrupted
	// KindNotFound: the snapshot (or the path inside it) does not exist.
	KindNotFound
)

var kindNames = [...]string{
	KindOther:            "other",
	KindRepoMissing:      "repository does not exist",
	KindLocked:           "repository is locked",
	KindWrongPassword:    "wrong password",
	KindPermissionDenied: "permission denied",
	KindIncomplete:       "snapshot incomplete",
	KindInterrupted:      "interrupted",
	KindNotFound:         "not found",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error makes a Kind usable as an errors.Is target.
func (k Kind) Error() string { return "restic: " + k.String() }

// Error is returned for every failed restic invocation.
//
// Message is restic's own explanation (the exit_error message of restic ≥
// 0.18 or the tail of stderr), with every secret known to the Repo replaced by
// "[redacted]". It never contains the password, the AWS secret or any value
// of Repo.Env.
type Error struct {
	Op       string // restic sub-command, e.g. "backup", "snapshots"
	ExitCode int    // process exit code; -1 if killed by a signal or never started
	Kind     Kind
	Message  string
	// SnapshotID is set when a snapshot was nevertheless written
	// (KindIncomplete: exit code 3).
	SnapshotID string
	// Err is the underlying cause when there is one: the context's error,
	// the stdin source's error, or an exec error. Unwrap returns it.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("restic ")
	b.WriteString(e.Op)
	if e.Kind != KindOther {
		b.WriteString(": ")
		b.WriteString(e.Kind.String())
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil && !strings.Contains(e.Message, e.Err.Error()) {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	switch {
	case e.ExitCode > 0:
		fmt.Fprintf(&b, " (exit status %d)", e.ExitCode)
	case e.ExitCode < 0 && e.Kind == KindInterrupted:
		b.WriteString(" (killed)")
	}
	if e.SnapshotID != "" {
		fmt.Fprintf(&b, " (snapshot %s)", shortID(e.SnapshotID))
	}
	return b.String()
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is this error's Kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// KindOf returns the Kind of err (KindOther if err is not from this package).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindOther
}

// IsRepoMissing reports whether err says that the repository does not exist.
func IsRepoMissing(err error) bool { return errors.Is(err, KindRepoMissing) }

// IsLocked reports whether err says that the repository is locked.
func IsLocked(err error) bool { return errors.Is(err, KindLocked) }

// IsWrongPassword reports whether err says that the password is wrong.
func IsWrongPassword(err error) bool { return errors.Is(err, KindWrongPassword) }

// IsPermissionDenied reports whether the backend refused an operation.
func IsPermissionDenied(err error) bool { return errors.Is(err, KindPermissionDenied) }

// IsIncomplete reports whether a backup wrote a snapshot but could not read
// all of its sources (exit code 3).
func IsIncomplete(err error) bool { return errors.Is(err, KindIncomplete) }

// IsInterrupted reports whether restic was interrupted or killed.
func IsInterrupted(err error) bool { return errors.Is(err, KindInterrupted) }

// IsNotFound reports whether a snapshot or a path in it was not found.
func IsNotFound(err error) bool { return errors.Is(err, KindNotFound) }

// Texts restic prints, taken from the sources of 0.16.4 and 0.18.1 (the same
// in both unless said otherwise). restic 0.16 exits 1 for all of these, so
// the text is all there is; 0.17+ also sets exit codes 10/11/12.
const (
	// repository.ErrNoKeyFound, printed as "Fatal: wrong password or no key found".
	textWrongPassword = "wrong password or no key found"
	// restic.alreadyLockedError: "repository is already locked [exclusively ]by PID …",
	// wrapped by lockRepo as "unable to create lock in backend: …".
	textLocked = "repository is already locked"
	// restic's cmd/restic/global.go open(): "unable to open config file: <err>\nIs there a
	// repository at the following location?\n<location>". 0.16 prints it for
	// every Stat error of the config file (also Access Denied or network
	// errors), so the inner error must say "does not exist" as well.
	textNoRepo = "Is there a repository at the following location?"
	// 0.18: ErrNoRepository "repository does not exist" (exit 10).
	textNoRepo018 = "repository does not exist"
	// Init of an existing repository: local/rest/sftp backends say "config file
	// already exists"; others (s3, b2, …) reach repository.Init which says
	// "repository master key and config already initialized".
	textAlreadyInit1 = "config file already exists"
	textAlreadyInit2 = "repository master key and config already initialized"
	// archiver: a backup whose tree has no nodes.
	textSnapshotEmpty = "snapshot is empty"
)

// Inner errors that mean "the config file is not there" (0.16 text path):
// local "stat …/config: no such file or directory", rest "<config/> does not
// exist", S3 (minio) "The specified key does not exist." / "The specified
// bucket does not exist" (codes NoSuchKey / NoSuchBucket).
var notExistTexts = []string{
	"no such file or directory",
	"does not exist",
	"NoSuchKey",
	"NoSuchBucket",
}

// Texts of a backend refusing access:
//   - S3 (minio-go ErrorResponse.Error() is the server's message): AWS and
//     versitygw say "Access Denied." (code AccessDenied), e.g.
//     "Stat(<config/>) failed: Access Denied", "Remove(<lock/…>) failed: Access Denied".
//   - rest-server: 0.18 "unexpected HTTP response (403): 403 Forbidden";
//     0.16 "blob not removed, server response: 403 Forbidden (403)",
//     "server response unexpected: 403 Forbidden (403)",
//     "List failed, server response: 401 Unauthorized (401)", ….
//   - local backend: "open …: permission denied" (EACCES).
var permissionTexts = []*regexp.Regexp{
	regexp.MustCompile(`(?i)access ?denied`),
	regexp.MustCompile(`\b40[13] (Forbidden|Unauthorized)\b`),
	regexp.MustCompile(`\(40[13]\)`),
	regexp.MustCompile(`(?i)\bpermission denied\b`),
	regexp.MustCompile(`\bAllAccessDisabled\b|\bAccountProblem\b|\bInvalidAccessKeyId\b|\bSignatureDoesNotMatch\b`),
}

// Texts for a missing snapshot or path: restic.ErrNoIDPrefixFound
// "no matching ID found for prefix %q", ErrNoSnapshotFound "no snapshot found",
// dump "path %q not found in snapshot", subfolder syntax "path %s: not found".
var notFoundTexts = []*regexp.Regexp{
	regexp.MustCompile(`no matching ID found for prefix`),
	regexp.MustCompile(`\bno snapshot found\b`),
	regexp.MustCompile(`not found in snapshot`),
	regexp.MustCompile(`path \S.*: not found`),
}

func hasPermissionText(s string) bool {
	for _, re := range permissionTexts {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

func hasNotExistText(s string) bool {
	for _, t := range notExistTexts {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}

// classify maps an exit code and restic's stderr to a Kind. The exit codes
// 3/10/11/12/130 are authoritative (0.16 only ever uses 0, 1, 3 and 130);
// for exit code 1 the text decides, most specific first.
func classify(exitCode int, stderr string) Kind {
	switch exitCode {
	case 3:
		return KindIncomplete
	case 10:
		return KindRepoMissing
	case 11:
		return KindLocked
	case 12:
		return KindWrongPassword
	case 130:
		return KindInterrupted
	}
	switch {
	case strings.Contains(stderr, textWrongPassword):
		return KindWrongPassword
	case strings.Contains(stderr, textLocked):
		return KindLocked
	case isRepoMissingText(stderr):
		return KindRepoMissing
	case hasPermissionText(stderr):
		return KindPermissionDenied
	}
	for _, re := range notFoundTexts {
		if re.MatchString(stderr) {
			return KindNotFound
		}
	}
	if strings.Contains(stderr, "context canceled") || strings.Contains(stderr, "signal interrupt received") {
		return KindInterrupted
	}
	return KindOther
}

// isRepoMissingText recognises "no repository here" without exit code 10.
func isRepoMissingText(s string) bool {
	if strings.Contains(s, "Fatal: "+textNoRepo018) {
		return true // 0.18 text (exit code 10 anyway)
	}
	if !strings.Contains(s, textNoRepo) {
		return false
	}
	// 0.16 prints the hint for any Stat error: require a not-exist cause
	// and no permission problem.
	return hasNotExistText(s) && !hasPermissionText(s)
}

func isAlreadyInitialized(s string) bool {
	return strings.Contains(s, textAlreadyInit1) || strings.Contains(s, textAlreadyInit2)
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
