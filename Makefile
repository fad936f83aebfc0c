# vidstream developer entry points. `make help` lists them.
# CI (.ci/run) calls the same targets, so a green `make` here means a green CI.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
TOOLS_BIN := $(ROOT)/hack/tools/bin
BUF := $(TOOLS_BIN)/buf
GOLANGCI_LINT := $(TOOLS_BIN)/golangci-lint
GOVULNCHECK := $(TOOLS_BIN)/govulncheck

# Every target builds, tests and scans with this Go release (fetched once by the
# go command through the module proxy if it is not the local one): govulncheck
# reports the standard library of the Go that builds the code, and releases
# before it have known vulnerabilities. Override with `make GOTOOLCHAIN=local ...`.
export GOTOOLCHAIN ?= go1.26.10+auto

GO_TEST_FLAGS ?=
TEST_TIMEOUT ?= 20m

.PHONY: help go-version tools gen gen-check buf-lint buf-breaking lint vet fmt fmt-check vuln \
	test test-short test-integration run postgres-up postgres-down kafka-up kafka-down \
	rabbitmq-up rabbitmq-down redis-up redis-down deps-up deps-down ci clean

go-version: # the Go release the targets use
	@go version

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

tools: ## build buf, controller-gen, protoc-gen-go(-grpc), golangci-lint, govulncheck into hack/tools/bin
	@hack/tools.sh

gen: tools ## regenerate Go code from services/api/proto, and the KafkaTopic CRD and DeepCopy code
	cd services/api && PATH="$(TOOLS_BIN):$$PATH" $(BUF) generate
	hack/gen-k8s.sh

gen-check: tools ## fail if generated code (protobuf, CRD, DeepCopy) is stale
	@hack/gen-check.sh
	@hack/gen-k8s.sh --check

buf-lint: tools ## lint the protobuf contracts
	cd services/api && $(BUF) lint

buf-breaking: tools ## check the contracts for breaking changes against HEAD~1 (BUF_BREAKING_AGAINST=ref)
	@hack/buf-breaking.sh

lint: tools ## golangci-lint (.golangci.yml)
	$(GOLANGCI_LINT) run ./...

vet: ## go vet
	go vet ./...

fmt: ## gofmt -s -w every Go file
	@git ls-files -z --cached --others --exclude-standard -- '*.go' | xargs -0r gofmt -s -w

fmt-check: ## fail listing every Go file gofmt would change
	@files="$$(git ls-files -z --cached --others --exclude-standard -- '*.go' | xargs -0r gofmt -s -l)"; \
	if [[ -n "$$files" ]]; then echo "gofmt needed (run 'make fmt'):"; echo "$$files"; exit 1; fi; \
	echo "fmt-check: ok"

vuln: tools ## govulncheck against a database built offline into .cache/vulndb
	@db="$$(hack/vulndb.sh)"; $(GOVULNCHECK) -db "file://$$db" ./...

test: ## all tests with the race detector (integration tests use VIDSTREAM_TEST_* if set)
	go test -race -count=1 -timeout $(TEST_TIMEOUT) $(GO_TEST_FLAGS) ./...

test-short: ## fast tests only (-short), no race detector
	go test -short -count=1 -timeout $(TEST_TIMEOUT) $(GO_TEST_FLAGS) ./...

test-integration: deps-up ## start PostgreSQL, Kafka, RabbitMQ and Redis, then run `make test` against them
	@export VIDSTREAM_TEST_POSTGRES_URL="$$(hack/postgres.sh url)"; \
	export VIDSTREAM_TEST_KAFKA_BROKERS="$$(hack/kafka.sh start)"; \
	export VIDSTREAM_TEST_RABBITMQ_URL="$$(hack/rabbitmq.sh url)"; \
	export VIDSTREAM_TEST_REDIS_URL="$$(hack/redis.sh url)"; \
	$(MAKE) --no-print-directory test

# devstack is built, then run directly rather than with `go run`: go run exits
# with status 1 when Ctrl-C reaches it, so make would report a clean stop as an
# error. Flags: make run ARGS='-kafka 127.0.0.1:19092' (see ARGS=-h).
run: ## start the whole system locally (embedded broker, Jaeger, every service)
	@go build -o $(ROOT)/.cache/devstack/bin/devstack ./services/devstack
	$(ROOT)/.cache/devstack/bin/devstack $(ARGS)

.PHONY: demo e2e api-fuzz bench fuzz

# Every Go fuzz target: each REST request decoder and each event decoder.
FUZZ_TARGETS := \
	./services/internal/httpx:FuzzDecodeJSON \
	./services/internal/peerauth:FuzzVerify \
	./services/user/internal/httpapi:FuzzCreateUser \
	./services/user/internal/httpapi:FuzzCreateSession \
	./services/video/internal/httpapi:FuzzCreateVideo \
	./services/video/internal/httpapi:FuzzUpdateVideo \
	./services/video/internal/httpapi:FuzzListVideos \
	./services/video/internal/domain:FuzzDecodeCursor \
	./services/video/internal/consumers:FuzzViewCounter \
	./services/watch-history/internal/httpapi:FuzzPutProgress \
	./services/watch-history/internal/httpapi:FuzzListHistory \
	./services/watch-history/internal/consumers:FuzzEvents
FUZZTIME ?= 8s
fuzz: ## run every Go fuzz target for FUZZTIME each (default 8s; about 2.5 min in all with compiling)
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; echo "==> $$fn ($$pkg, $(FUZZTIME))"; \
		go test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
	done
bench: ## every hop against its bare-library baseline, as ratios (BENCH_ROUNDS=3); table and raw results in .cache/bench
	@hack/bench.sh


demo: ## with `make run` up: every API flow once, each trace drawn as a waterfall
	go run ./services/loadgen demo

E2E_TIMEOUT ?= 40m
# The job queue: RABBITMQ_URL, else the test servers' RabbitMQ (CI exports
# VIDSTREAM_TEST_RABBITMQ_URL), else devstack's own node if rabbitmq-server is
# installed.
e2e: ## build and start the whole system, run the demo, check its traces in Jaeger
	RABBITMQ_URL="$${RABBITMQ_URL:-$${VIDSTREAM_TEST_RABBITMQ_URL:-}}" VIDSTREAM_E2E=1 go test -count=1 -timeout $(E2E_TIMEOUT) -run '^TestEndToEnd$$' -v ./services/devstack

api-fuzz: ## start the whole system on a fresh data dir, fuzz the three REST APIs against their OpenAPI documents (schemathesis), stop it
	@hack/api-fuzz.sh --stack

postgres-up: ## start PostgreSQL on 127.0.0.1:15432 (installs it with apt if missing)
	@url="$$(hack/postgres.sh start)"; echo "export VIDSTREAM_TEST_POSTGRES_URL='$$url'"

postgres-down: ## stop PostgreSQL
	@hack/postgres.sh stop

kafka-up: ## start Apache Kafka (KRaft) on 127.0.0.1:19092 (assembled with Maven)
	@brokers="$$(hack/kafka.sh start)"; echo "export VIDSTREAM_TEST_KAFKA_BROKERS='$$brokers'"

kafka-down: ## stop Kafka
	@hack/kafka.sh stop

rabbitmq-up: ## start RabbitMQ on 127.0.0.1:15673 (installs it with apt if missing)
	@url="$$(hack/rabbitmq.sh start)"; echo "export VIDSTREAM_TEST_RABBITMQ_URL='$$url'"

rabbitmq-down: ## stop RabbitMQ
	@hack/rabbitmq.sh stop

redis-up: ## start Redis on 127.0.0.1:16379 (installs it with apt if missing)
	@url="$$(hack/redis.sh start)"; echo "export VIDSTREAM_TEST_REDIS_URL='$$url'"

redis-down: ## stop Redis
	@hack/redis.sh stop

deps-up: postgres-up kafka-up rabbitmq-up redis-up ## start every real server the tests use; eval "$(make -s deps-up)" sets the env

deps-down: redis-down rabbitmq-down kafka-down postgres-down ## stop them

ci: ## run the CI script as CI does
	bash .ci/run

# --- Kubernetes: charts/, k8s/, skaffold.yaml, Dockerfile (docs/kubernetes.md) ---
.PHONY: k8s-tools k8s-check kind-up images cluster-up cluster-down cluster-test
IMAGE_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

k8s-tools: ## build helm, kube-apiserver, kubectl, etcd, skaffold, kind, a collector into hack/tools/bin/k8s
	@hack/k8s-tools.sh

k8s-check: ## lint, render and test the charts (objects created on a real kube-apiserver), check images, skaffold, kind, collector
	@hack/k8s-check.sh

cluster-up: ## start a real single-node Kubernetes cluster here (root, no Docker) and push every image to its registry
	@hack/k8s-tools.sh kube etcd helm otelcol jaeger cluster
	@hack/cluster-up.sh
	@hack/cluster-images.sh
	@echo "export KUBECONFIG=$(ROOT)/.cache/cluster/run/pki/admin.kubeconfig"

cluster-down: ## stop that cluster and remove everything it left (processes, containers, network, cgroups, mounts)
	@hack/cluster-down.sh

cluster-test: ## on a fresh real cluster: images, helm install/test, demo + trace in the in-cluster Jaeger, upgrade under load, uninstall, skaffold run
	@hack/cluster-test.sh

kind-up: ## create (or reuse) the kind cluster of k8s/kind/cluster.yaml; then `skaffold dev`
	@hack/kind-up.sh

images: ## docker build vidstream/{user,video,watch-history,transcoder,topic-operator}:$(IMAGE_VERSION) (needs a Docker engine)
	@for s in user video watch-history transcoder topic-operator; do \
		docker build --build-arg SERVICE=$$s --build-arg VERSION=$(IMAGE_VERSION) \
			--build-arg COMMIT="$$(git rev-parse HEAD 2>/dev/null || echo unknown)" -t vidstream/$$s:$(IMAGE_VERSION) . ; \
	done

clean: ## remove built tools, caches and Kafka's jars and data (stops Kafka first)
	-@hack/kafka.sh stop
	rm -rf hack/tools/bin .cache hack/kafka/lib .data
