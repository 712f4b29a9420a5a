# Godwit — run `make` for the list of targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/godwit
PKGS  := ./...
FUZZTIME ?= 30s

# Debian packages the tests drive for real, keyed by the command they provide.
TEST_TOOLS := dig:bind9-dnsutils bird:bird2 nsd:nsd unbound:unbound chromium:chromium nats-server:nats-server dnssec-keygen:bind9-utils

.PHONY: help build run test unit acceptance lint tools bench bench-large fuzz soak clean

help: ## list the targets
	@echo "Godwit — geo-aware authoritative DNS for GSLB"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## build bin/godwit
	$(GO) build -o $(BIN) ./cmd/godwit

run: build ## serve the built-in demo on 127.0.0.1:5353 (status page 127.0.0.1:8053); flags in ARGS="-status-listen 127.0.0.1:8054"
	./$(BIN) demo $(ARGS)

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

bench: build ## Go benchmarks, then Godwit beside gdnsd, PowerDNS and NSD into docs/BENCHMARKS.md (BENCH_SECONDS=8, BENCH_ROUNDS=2)
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchmem $(PKGS) | tee bin/gobench.txt
	@missing=""; for t in dnsperf:dnsperf gdnsd:gdnsd pdns_server:pdns-server pdnsutil:pdns-server nsd:nsd \
	  dig:bind9-dnsutils delv:bind9-dnsutils dnssec-keygen:bind9-utils curl:curl; do \
	  { command -v $${t%%:*} || test -x /usr/sbin/$${t%%:*}; } >/dev/null 2>&1 || missing="$$missing $${t#*:}"; done; \
	for p in pdns-backend-bind pdns-backend-geoip; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	BENCH_GO_OUTPUT=bin/gobench.txt testdata/bench/run.sh

bench-large: build ## Godwit on a generated 1M-record zone and 1M-prefix routes file: load, RSS, reload, qps into docs/BENCHMARKS.md
	testdata/bench/large/run.sh

fuzz: ## run every fuzz target for a bounded time each (FUZZTIME, default 30s)
	@for pkg in $$(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(' . | xargs -n1 dirname | sort -u); do \
	  for t in $$(grep -hoE '^func Fuzz[A-Za-z0-9_]+' $$pkg/*_test.go | sed 's/^func //' | sort -u); do \
	    echo "== $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

soak: build ## soak test on loopback: godwit under dnsperf while health, zones, GeoIP DB and a BIRD peer churn (SOAK_SECONDS=600); writes docs/RELIABILITY.md
	testdata/soak/run.sh

clean: ## remove build output
	rm -rf bin
