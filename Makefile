# rampart — the two commands a newcomer needs:
#   make demo   build rampart and run `rampart serve --demo`
#   make test   install what the tests need, then lint and run the whole suite
#
# Everything else here is a step of those two.

GO            ?= go
BIN           ?= bin/rampart
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS       := -s -w -X main.version=$(VERSION)
STATICCHECK   := $(shell $(GO) env GOPATH)/bin/staticcheck
# Artifacts of the browser tests (screenshots) land here.
export RAMPART_ARTIFACTS ?= $(CURDIR)/artifacts

.PHONY: all build install demo test deps lint unit fuzz first-steps bench peers h2bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/rampart

# install puts the binary on PATH, so that the README's `rampart …`
# commands work as written (without it they are `bin/rampart …`).
PREFIX ?= /usr/local
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/rampart

demo: build
	$(BIN) serve --demo

test: deps lint unit fuzz first-steps

deps:
	scripts/test-deps.sh

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

unit:
	mkdir -p $(RAMPART_ARTIFACTS)
	$(GO) test -race -count=1 -timeout 15m ./...

# A short run of every fuzz target, to catch a parser that panics on input
# the seed corpus does not have. Longer runs: FUZZTIME=5m make fuzz.
FUZZTIME ?= 4s
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

# A newcomer's first steps on a fresh clone: make demo, the banner's CLI
# line, rampart service list. Uses the demo's ports, so it runs alone.
first-steps:
	scripts/first-steps.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/edge/...

# Reverse-proxy comparison with nginx and Caddy (../shared/bench/peers.sh).
peers: build
	scripts/bench-peers.sh

# HTTP/2 over TLS beside nginx and Caddy (../shared/bench/h2.sh).
h2bench: build
	scripts/bench-h2.sh

clean:
	rm -rf bin artifacts
