// SPDX-License-Identifier: Apache-2.0

// Package host is the core of timetiles-backup: configuration, plugin
// discovery and launch, and the pipelines that stream a source's bytes into
// one or more targets and back.
package host

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// DefaultEnvFile is TimeTiles' production env file, read when it exists.
const DefaultEnvFile = "/opt/timetiles/.env.production"

// ErrConfig marks configuration errors (exit code 2).
var ErrConfig = errors.New("configuration error")

// Configf returns a configuration error.
func Configf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// Config is the effective configuration: the process environment over the
// env file over defaults. It remembers where each value came from.
type Config struct {
	values  map[string]string
	origins map[string]string
	// EnvFile is the file that was read, or "".
	EnvFile string
	// fileProblem, run as root, says why EnvFile is not root's alone
	// (CheckExecutable).
	fileProblem *notRootOnly
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
	// runs (trust.go).
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

// Secrets returns the non-empty values of keys that are secret, so that
// they can be scrubbed from any text shown to the operator.
func (c *Config) Secrets(isSecret func(string) bool) []string {
	var out []string
	for k, v := range c.values {
		if v != "" && len(v) >= 4 && isSecret(k) {
			out = append(out, v)
		}
	}
	return out
}

// IsSecretKey reports whether a variable name denotes a secret.
func IsSecretKey(k string) bool {
	u := strings.ToUpper(k)
	for _, s := range []string{"PASSWORD", "SECRET", "_PASS", "TOKEN", "DATABASE_URL", "PRIVATE"} {
		if strings.Contains(u, s) {
			return true
		}
	}
	return false
}

// Scrub replaces every secret in s with "***".
func Scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}
