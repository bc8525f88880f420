# fanout — developer entry points. `make help` lists them.
#
# Every target works on a fresh machine with only Go installed: tools are pinned in
# tools/go.mod and run with `go tool`, never installed globally.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The workspace's modules, as `go` package patterns from the repository root.
MODULES  := pkg testbed services/proxy services/replicator services/fanoutctl integration deployments
PATTERNS := $(addprefix ./,$(addsuffix /...,$(MODULES)))

GO          ?= go
TEST_FLAGS  ?= -race -count=1 -timeout 8m
BENCH_TIME  ?= 1x
BIN         := bin

# What the binaries and images say they are (--version, fanout_build_info, OCI labels):
# the nearest v* tag without its v, else 0.0.0-dev; the commit, "-dirty" for a tree with
# uncommitted changes.
VERSION   ?= $(shell v=$$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null) && echo "$${v#v}" || echo 0.0.0-dev)
REVISION  ?= $(shell r=$$(git rev-parse HEAD 2>/dev/null) && { git diff --quiet HEAD 2>/dev/null && echo "$$r" || echo "$$r-dirty"; } || echo unknown)
BUILDINFO := github.com/fanout-dev/fanout/pkg/buildinfo
LDFLAGS   := -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).revision=$(REVISION)
IMAGES    := fanout-proxy fanout-replicator fanoutctl
# Images are tagged $(IMAGE_PREFIX)<binary>:<version>, e.g. IMAGE_PREFIX=registry.example/fanout/.
IMAGE_PREFIX ?=

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: dev
dev: ## Run the whole pipeline locally on embedded Kafka and in-memory clusters (Ctrl-C stops; DEV_FLAGS="--base-port 10200" for a second stack).
	@test -x $(BIN)/fanoutctl || echo "Building fanoutctl: the first build on a fresh machine downloads and compiles the modules, a few minutes..."
	@mkdir -p $(BIN) && $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/fanoutctl ./services/fanoutctl/cmd/fanoutctl
	@# Built, then exec'ed: under go run, Ctrl-C ended with go run's exit 1 and make's
	@# "Error 1" after a clean stop. The stack's own exit status is make's.
	@exec $(BIN)/fanoutctl dev $(DEV_FLAGS)

# The longest end-to-end fault tests (a 30 s Kafka outage, a 30 s target outage, kill -9
# loops: mostly waiting) run in a go test of their own beside the rest. go test runs one
# package's tests one after another, so without this the replication suite alone would
# take most of make test's time on one core while the other idles. Their package then
# prints two summary lines, one per half. A test renamed away from this list still runs,
# in the main half.
SLOW_TESTS := ^(TestKafkaOutageTwoProxies|TestTargetDown30s|TestKill9UnderLoad|TestProxyKill9UnderLoad)$$

.PHONY: test
test: ## Run every module's tests with the race detector (go test's summary per package).
	@echo "$(GO) test $(TEST_FLAGS) -run '$(SLOW_TESTS)' ./integration/replication/ &"
	@echo "$(GO) test $(TEST_FLAGS) -skip '$(SLOW_TESTS)' $(PATTERNS)"
	@$(GO) test $(TEST_FLAGS) -run '$(SLOW_TESTS)' ./integration/replication/ & slow=$$!; \
	rc=0; $(GO) test $(TEST_FLAGS) -skip '$(SLOW_TESTS)' $(PATTERNS) || rc=$$?; \
	wait $$slow || rc=$$?; exit $$rc

.PHONY: bench
bench: ## Run the benchmarks and print one `BENCH <name> <value> <unit>` line per figure.
	@scripts/bench.sh

.PHONY: build
build: ## Build the service binaries into ./bin.
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./services/proxy/cmd/... ./services/replicator/cmd/... ./services/fanoutctl/cmd/...

# The Dockerfile uses BuildKit (RUN --mount caches, $BUILDPLATFORM): buildx where the
# docker CLI has it, else the classic command with DOCKER_BUILDKIT=1.
.PHONY: images
images: ## Build the container images (deployments/docker/Dockerfile) where a Docker engine answers; else say why and skip.
	@if ! command -v docker >/dev/null 2>&1; then echo "make images: skipped: no docker command on PATH"; exit 0; fi; \
	if ! out=$$(docker info --format '{{.ServerVersion}}' 2>&1); then echo "make images: skipped: the Docker engine does not answer: $$(echo "$$out" | grep -v "^[[:space:]]*$$" | tail -n 1)"; exit 0; fi; \
	if docker buildx version >/dev/null 2>&1; then build="docker buildx build --load"; else build="docker build"; export DOCKER_BUILDKIT=1; fi; \
	for t in $(IMAGES); do \
	  tag="$(IMAGE_PREFIX)$$t:$(subst +,-,$(VERSION))"; \
	  echo "$$build -f deployments/docker/Dockerfile --target $$t -t $$tag ."; \
	  $$build -f deployments/docker/Dockerfile --target "$$t" \
	    --build-arg VERSION="$(VERSION)" --build-arg REVISION="$(REVISION)" -t "$$tag" . ; \
	done

.PHONY: lint
lint: ## gofmt, go vet, go mod tidy, generated-code checks, and no merge-conflict markers.
	@if git grep -nE '^(<<<<<<<|>>>>>>>)( |$$)|^=======$$' -- . ':!*.pb.go' >/dev/null; then echo "merge-conflict markers:"; git grep -nE '^(<<<<<<<|>>>>>>>)( |$$)|^=======$$' -- . ':!*.pb.go'; exit 1; fi
	@out=$$(gofmt -l $(MODULES) tools scripts 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PATTERNS)
	@scripts/tidy-check.sh $(MODULES)
	@tools/proto.sh check

.PHONY: proto
proto: ## Regenerate pkg/opspb from proto/ (pinned buf + protoc-gen-go).
	@tools/proto.sh

.PHONY: integration
integration: ## End-to-end suites; the Docker backend runs only where a Docker engine answers.
	$(GO) test $(TEST_FLAGS) -v ./integration/...

.PHONY: tidy
tidy: ## go mod tidy every module (tools/ is pinned by hand: see tools/go.mod).
	@for m in $(MODULES); do (cd $$m && $(GO) mod tidy); done
