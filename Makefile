# timetiles-backup — see README.md. Pinned tools land in .tools/ (cached).
.PHONY: demo test proto lint build install package bench man

demo:
	@scripts/demo.sh

test:
	@scripts/test.sh


# Regenerate docs/man from the commands' --help texts (TestManPagesCurrent
# checks them).
man:
	@go test -count=1 -run TestManPagesCurrent ./cmd/timetiles-backup -update-man

# Regenerate gen/ from proto/ with pinned buf and protoc plugins, offline.
proto:
	@scripts/tools.sh proto
	@PATH="$(CURDIR)/.tools/bin:$$PATH" .tools/bin/buf generate

lint:
	@scripts/tools.sh buf
	@.tools/bin/buf lint
	@gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$') | (! grep .)
	@go vet ./...

# Source install: the CLI into $(PREFIX)/bin, the bundled plugins into
# $(PREFIX)/lib/timetiles-backup (where the CLI looks for them), the docs,
# license and the example env file into $(PREFIX)/share/doc/timetiles-backup,
# the man pages and the bash and zsh completion into $(PREFIX)/share.
#   make install PREFIX=/usr/local        (DESTDIR= stages for packaging)
PREFIX ?= /usr/local
DESTDIR ?=
# The version comes from the git tags (scripts/version.sh: 0.1.0 on the tag
# v0.1.0, 0.2.0-git20261204+4b99d78 after it); the CLI and every bundled
# plugin carry it (internal/version).
VERSION ?= $(shell scripts/version.sh)
GOLDFLAGS := -s -w -X github.com/timetiles/timetiles-backup/internal/version.Version=$(VERSION)

build:
	@mkdir -p bin && go build -ldflags "$(GOLDFLAGS)" -o bin/timetiles-backup ./cmd/timetiles-backup && \
	for p in plugins/*/; do n=$$(basename $$p); go build -ldflags "$(GOLDFLAGS)" -o bin/timetiles-backup-$$n ./$$p || exit 1; done
install:
	@install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/timetiles-backup $(DESTDIR)$(PREFIX)/share/doc/timetiles-backup
	CGO_ENABLED=0 go build -trimpath -ldflags "$(GOLDFLAGS)" -o $(DESTDIR)$(PREFIX)/bin/timetiles-backup ./cmd/timetiles-backup
	@for p in plugins/*/; do n=$$(basename $$p); \
	  echo "CGO_ENABLED=0 go build -o $(DESTDIR)$(PREFIX)/lib/timetiles-backup/timetiles-backup-$$n ./$$p"; \
	  CGO_ENABLED=0 go build -trimpath -ldflags "$(GOLDFLAGS)" -o $(DESTDIR)$(PREFIX)/lib/timetiles-backup/timetiles-backup-$$n ./$$p || exit 1; done
	@install -m 0644 README.md LICENSE NOTICE examples/env.production.example $(wildcard docs/*.md) $(DESTDIR)$(PREFIX)/share/doc/timetiles-backup/
	@install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions
	@install -m 0644 docs/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	@install -m 0644 packaging/completion.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/timetiles-backup
	@install -m 0644 packaging/_timetiles-backup $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_timetiles-backup

# Release artifacts in dist/: a .deb (nfpm) and a tarball.
package:
	@scripts/package.sh
