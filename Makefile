# timetiles-backup — see README.md. Pinned tools land in .tools/ (cached).
.PHONY: demo test proto lint build install bench

demo:
	@scripts/demo.sh

test:
	@scripts/test.sh

build:
	@mkdir -p bin && go build -o bin/timetiles-backup ./cmd/timetiles-backup && \
	for p in plugins/*/; do n=$$(basename $$p); go build -o bin/timetiles-backup-$$n ./$$p || exit 1; done

# Regenerate gen/ from proto/ with pinned buf and protoc plugins, offline.
proto:
	@scripts/tools.sh proto
	@PATH="$(CURDIR)/.tools/bin:$$PATH" .tools/bin/buf generate

lint:
	@scripts/tools.sh buf
	@.tools/bin/buf lint
	@gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$') | (! grep .)
	@go vet ./...
