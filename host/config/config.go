// SPDX-License-Identifier: Apache-2.0

// Package config is the host's configuration: the env file (parsed and
// written: envparse.go, envfile.go), the effective Config (the process
// environment over the env file over defaults), the variables the host
// knows (keys.go), which of them name programs root would run
// (executables.go) and which are secret, and the scrubbing of secrets from
// text (secrets.go).
package config

import (
	"errors"
	"os"
	"sort"
	"strings"

	"github.com/timetiles/timetiles-backup/internal/configerr"
	"github.com/timetiles/timetiles-backup/internal/rootonly"
)

// DefaultEnvFile is TimeTiles' production env file, read when it exists.
const DefaultEnvFile = "/opt/timetiles/.env.production"

// ErrConfig marks configuration errors (exit code 2); internal/configerr
// defines it, for host/plugin.
var ErrConfig = configerr.ErrConfig

// Configf returns a configuration error.
func Configf(format string, args ...any) error { return configerr.Errorf(format, args...) }

// Config is the effective configuration: the process environment over the
// env file over defaults. It remembers where each value came from.
type Config struct {
	values  map[string]string
	origins map[string]string
	// EnvFile is the file that was read, or "".
	EnvFile string
	// fileProblem, run as root, says why EnvFile is not root's alone
	// (CheckExecutable).
	fileProblem *rootonly.Problem
}

// LoadConfig reads the env file (explicit path, then TIMETILES_ENV_FILE,
// then DefaultEnvFile when it exists) and overlays the environment. The
// file is parsed with joho/godotenv, which reads docker-compose style env
// files (quotes, comments, `export`, ${VAR} expansion); a leading UTF-8
// byte order mark is accepted.
func LoadConfig(envFile string, environ []string) (*Config, error) {
	c := &Config{values: map[string]string{}, origins: map[string]string{}}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	explicit := envFile != ""
	if envFile == "" {
		if v := env["TIMETILES_ENV_FILE"]; v != "" {
			envFile, explicit = v, true
		} else if _, err := os.Stat(DefaultEnvFile); err == nil {
			envFile = DefaultEnvFile
		}
	}
	if envFile != "" {
		data, err := os.ReadFile(envFile)
		switch {
		case err != nil && errors.Is(err, os.ErrNotExist) && explicit:
			return nil, Configf("env file %s does not exist: pass an existing file with --env-file or TIMETILES_ENV_FILE", envFile)
		case err != nil && errors.Is(err, os.ErrPermission):
			return nil, Configf("env file %s is not readable: run as a user that may read it (it holds secrets; keep it 0600)", envFile)
		case err != nil:
			return nil, Configf("env file %s cannot be read: %v", envFile, err)
		}
		file, err := parseEnv(data)
		if err != nil {
			// Never godotenv's message: it quotes the file, secrets included.
			return nil, Configf("env file %s: %s: fix that line (quote a value holding spaces or #)", envFile, envParseProblemIn(data))
		}
		for k, v := range file {
			c.values[k], c.origins[k] = v, "file "+envFile
		}
		c.EnvFile = envFile
		c.fileProblem = envFileProblem(envFile)
	}
	for k, v := range env {
		c.values[k], c.origins[k] = v, "environment"
	}
	// Run as root, a program or command, or a path root writes to, named
	// in an env file that others could change is refused before anything
	// runs (executables.go).
	if err := c.CheckExecutable(ExecutableKeys); err != nil {
		return nil, err
	}
	if err := c.CheckWrittenPaths(WrittenPathKeys); err != nil {
		return nil, err
	}
	return c, nil
}

// NewConfig builds a configuration from a map (tests, demo).
func NewConfig(values map[string]string) *Config {
	c := &Config{values: map[string]string{}, origins: map[string]string{}}
	for k, v := range values {
		c.values[k], c.origins[k] = v, "environment"
	}
	return c
}

// Get returns a value or "".
func (c *Config) Get(key string) string { return c.values[key] }

// Lookup returns a value and whether it is set.
func (c *Config) Lookup(key string) (string, bool) {
	v, ok := c.values[key]
	return v, ok
}

// GetDefault returns a value, or def when unset or empty.
func (c *Config) GetDefault(key, def string) string {
	if v := c.values[key]; v != "" {
		return v
	}
	return def
}

// Origin says where a value came from: "environment", "file PATH", or
// "default" when unset.
func (c *Config) Origin(key string) string {
	if o, ok := c.origins[key]; ok {
		return o
	}
	return "default"
}

// Set overrides a value (flags).
func (c *Config) Set(key, value, origin string) {
	c.values[key], c.origins[key] = value, origin
}

// Keys returns the set keys, sorted.
func (c *Config) Keys() []string {
	keys := make([]string, 0, len(c.values))
	for k := range c.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
