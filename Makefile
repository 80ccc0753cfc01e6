# Honua GitOps. `make run` starts a three-node cluster on loopback;
# `make test` runs every test (with the race detector).

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test test-short chaos bench bench-pipeline bench-api bench-flood bench-state lint clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/honuad ./cmd/honuad
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/honuactl ./cmd/honuactl

run: build
	./scripts/run-cluster.sh

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

# Unit tests only: skips the tests that start real processes.
test-short:
	$(GO) test -race -count=1 -short ./...

# The whole chaos suite: every fault on its own, and long randomized
# schedules on three and five nodes (make test runs a short schedule).
# A failure prints its seed and the command that replays it.
chaos:
	$(GO) test -race -count=1 -timeout 25m ./test/chaos -chaos.long

# Leader failover time over 10 SIGKILLs of the leader (median and max).
# BENCHFLAGS=-tls runs the nodes of bench and bench-api with TLS on.
bench:
	$(GO) run ./test/bench/failover -kills 10 $(BENCHFLAGS)

# Commit -> deployment and -> Completed (webhook and polling), the
# ls-remote step and planning against the git CLI.
bench-pipeline:
	$(GO) run ./test/bench/pipeline

# Approve latency through the leader and a follower; writes per second.
bench-api:
	$(GO) run ./test/bench/api $(BENCHFLAGS)

# The leader's commits, approvals/s and latency without and with a flood
# of requests on a follower.
bench-flood:
	$(GO) run ./test/bench/api -flood -clients 4 -duration 20s

# Resident memory, snapshot size and save/restore time with 10,000
# deployments in history.
bench-state:
	$(GO) run ./test/bench/state

lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin .run
