# Godwit — run `make` for the list of targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/godwit
PKGS  := ./...

# Debian packages the tests drive for real, keyed by the command they provide.
TEST_TOOLS := dig:bind9-dnsutils bird:bird2 nsd:nsd unbound:unbound chromium:chromium

.PHONY: help build run test unit acceptance lint tools bench fuzz clean

help: ## list the targets
	@echo "Godwit — geo-aware authoritative DNS for GSLB"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## build bin/godwit
	$(GO) build -o $(BIN) ./cmd/godwit

run: build ## serve the built-in demo on 127.0.0.1:5353 (status page 127.0.0.1:8053)
	./$(BIN) serve

test: tools lint ## install missing test tools, then run every test (unit, integration, dig acceptance)
	GODWIT_ACCEPTANCE=1 $(GO) test -count=1 -timeout 9m $(PKGS)

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

tools: ## install the Debian packages the tests use, when missing
	@missing=""; for t in $(TEST_TOOLS); do \
	  { command -v $${t%%:*} || test -x /usr/sbin/$${t%%:*}; } >/dev/null 2>&1 || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

bench: ## Go benchmarks of the hot path (allocations included)
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

fuzz: ## run each fuzz target for a bounded time (FUZZTIME, default 30s)
	@for t in $$(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' . | sed 's/func //' | sort -u); do \
	  pkg=$$(grep -rlE "^func $$t\(" --include='*_test.go' . | head -1 | xargs dirname); \
	  echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $${FUZZTIME:-30s} $$pkg || exit 1; \
	done

clean: ## remove build output
	rm -rf bin
