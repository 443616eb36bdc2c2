// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Copying between repositories (`restic copy`) and creating a repository
// that chunks like another (`init --copy-chunker-params`). The source
// repository's location and password reach restic only through its
// environment (RESTIC_FROM_REPOSITORY, RESTIC_FROM_PASSWORD or
// RESTIC_FROM_PASSWORD_FILE), never argv; both repositories share Env
// (restic has one set of backend credentials per process).

// Config is a repository's config (`restic cat config`).
type Config struct {
	Version           int    `json:"version"`
	ID                string `json:"id"`
	ChunkerPolynomial string `json:"chunker_polynomial"`
}

// Config reads and decrypts the repository's config (a key derivation).
func (r *Repo) Config(ctx context.Context) (*Config, error) {
	res, err := r.run(ctx, invocation{op: "cat config", args: []string{"cat", "config"}, noLock: true})
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(res.stdout, &c); err != nil {
		return nil, &Error{Op: "cat config", Message: "cannot parse output: " + err.Error()}
	}
	return &c, nil
}

// Probe reports whether the repository exists without opening it: restic
// looks for the config file before it asks for the password, so without a
// password (and /dev/null as stdin) it fails either way, but cheaply — no
// key derivation (~0.6 s of CPU) — and differently: "repository does not
// exist" (exit 10 on 0.17+, the "Is there a repository" text on 0.16) or
// "empty password". Unreachable backends and refused permissions are
// errors.
func (r *Repo) Probe(ctx context.Context) (bool, error) {
	_, err := r.run(ctx, invocation{op: "cat config", args: []string{"cat", "config"}, noLock: true, noPassword: true, giveUpOnRetry: true})
	var e *Error
	switch {
	case err == nil:
		return true, nil // cannot happen without a password; be lenient
	case IsRepoMissing(err):
		return false, nil
	case errors.As(err, &e) && strings.Contains(e.Message, "empty password"):
		return true, nil
	default:
		return false, err
	}
}

// fromEnv is the environment naming from as the source repository.
func (r *Repo) fromEnv(from *Repo) (env, secrets []string, err error) {
	if from == nil || from.Repository == "" {
		return nil, nil, errors.New("restic: no source repository to copy from")
	}
	env = []string{"RESTIC_FROM_REPOSITORY=" + from.Repository}
	switch {
	case from.Password != "":
		env = append(env, "RESTIC_FROM_PASSWORD="+from.Password)
		secrets = append(secrets, from.Password)
	case from.PasswordFile != "":
		env = append(env, "RESTIC_FROM_PASSWORD_FILE="+from.PasswordFile)
	default:
		return nil, nil, errors.New("restic: no password for the source repository")
	}
	return env, secrets, nil
}

// CreateLike is Create for a repository that takes from's chunker
// parameters (`init --copy-chunker-params`), so snapshots copied from there
// deduplicate with the ones backed up here. It opens from (a key
// derivation): call it only when the repository does not exist (Probe).
func (r *Repo) CreateLike(ctx context.Context, from *Repo) (created bool, err error) {
	env, secrets, err := r.fromEnv(from)
	if err != nil {
		return false, err
	}
	_, err = r.run(ctx, invocation{op: "init", args: []string{"init", "--repository-version", "2", "--copy-chunker-params"},
		json: true, env: env, secrets: secrets})
	if err == nil {
		return true, nil
	}
	var e *Error
	if errors.As(err, &e) && isAlreadyInitialized(e.Message) {
		return false, nil
	}
	return false, err
}

// Copy copies snapshots (by ID) from the repository from into this one
// (`restic copy`): whole, with their time, host, tags and paths; each copy
// records its source as Original. restic skips a snapshot already copied
// earlier. It takes a shared lock here and a read lock there.
func (r *Repo) Copy(ctx context.Context, from *Repo, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return err
		}
	}
	env, secrets, err := r.fromEnv(from)
	if err != nil {
		return err
	}
	_, err = r.run(ctx, invocation{op: "copy", args: append([]string{"copy", "--"}, ids...), lock: true, env: env, secrets: secrets})
	if err != nil {
		return err
	}
	return nil
}

// CopiesOf maps each source snapshot ID to its copy among snaps (by
// Original), for the IDs given.
func CopiesOf(snaps []Snapshot, ids []string) (map[string]Snapshot, error) {
	byOrig := map[string]Snapshot{}
	for _, s := range snaps {
		if s.Original != "" {
			byOrig[s.Original] = s
		}
	}
	out := map[string]Snapshot{}
	var missing []string
	for _, id := range ids {
		s, ok := byOrig[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		out[id] = s
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("restic copy reported success, but no copy of %s is in the repository", strings.Join(missing, ", "))
	}
	return out, nil
}
