# Trellis: the two commands a newcomer needs are `make run` and `make test`.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
ASAN_DIR ?= build-asan
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= schedule jwt questionnaire request
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all bootstrap configure build test test-cluster bench-cluster run demo lint asan fuzz unit integration e2e perf bench \
	clean image deploy-check faults

all: build

bootstrap:
	@bash scripts/bootstrap.sh

$(BUILD_DIR)/build.ninja: | bootstrap
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

configure: bootstrap $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Every test (unit, integration, e2e) through ctest; the harness starts its own Redis.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -LE cluster

# The service suites again, against a 3-primary Redis Cluster the harness starts on loopback
# (docs/scaling.md); CI runs it after `make test`.
test-cluster: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L cluster

unit integration e2e perf: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L $@

# The fault-injection suite at full size (tests/faults/, docs/reliability.md): Redis killed,
# frozen, restarted and failed over (Sentinel), peers and replicas killed, bad bytes, a 10-minute
# soak. Prints the table and writes $(FAULTS_JSON); exits 1 when a check fails, service bugs
# included (the ctest subset, label `faults` in `make test`, runs smaller sizes and reports
# service bugs without failing).
# The binaries and stubs default to $(BUILD_DIR)'s; TRELLIS_*_BIN / TRELLIS_PY_STUBS override.
FAULTS_JSON ?= $(BUILD_DIR)/faults/results.json
faults: build
	@TRELLIS_PY_STUBS=$${TRELLIS_PY_STUBS:-$(abspath $(BUILD_DIR))/py} \
	TRELLIS_GOALS_BIN=$${TRELLIS_GOALS_BIN:-$(abspath $(BUILD_DIR))/services/goals/trellis-goals} \
	TRELLIS_MEASUREMENTS_BIN=$${TRELLIS_MEASUREMENTS_BIN:-$(abspath $(BUILD_DIR))/services/measurements/trellis-measurements} \
	TRELLIS_REMINDERS_BIN=$${TRELLIS_REMINDERS_BIN:-$(abspath $(BUILD_DIR))/services/reminders/trellis-reminders} \
	TRELLIS_FAULTS_FULL=$${TRELLIS_FAULTS_FULL:-1} PYTHONDONTWRITEBYTECODE=1 \
	/usr/bin/python3 tests/faults/run_faults.py --json $(FAULTS_JSON)

# The benchmark (docs/performance.md): tests/perf/run_bench.py starts Redis, the three service
# binaries and a bare-gRPC baseline server on free loopback ports, drives every scenario with the
# load generator (tests/perf) and prints the table, each throughput as a ratio of the baseline's
# in the same run; then the in-process benchmarks of bench/ (each trellis_bench_<name> starts its
# own Redis). Figures are reported, never asserted; `make test` runs a short smoke of the runner
# (ctest label perf). BENCH_ARGS passes runner options, e.g. BENCH_ARGS='--duration 5'.
BENCH_ARGS ?=
bench: build
	@/usr/bin/python3 tests/perf/run_bench.py --build_dir $(BUILD_DIR) $(BENCH_ARGS)
	@set -e; for b in $(BUILD_DIR)/bench/trellis_bench_*; do echo "== $$(basename $$b)"; $$b; done

# Redis Cluster figures (docs/scaling.md): RecordMeasurement and GetGoalProgress with 1, 2 and 3
# service replicas on one Redis and on a 3-primary cluster, Redis commands per call, key spread.
bench-cluster: build
	@/usr/bin/python3 tests/perf/cluster_bench.py --build_dir $(BUILD_DIR) $(BENCH_ARGS)
	@$(BUILD_DIR)/bench/trellis_bench_cluster_keys

# Starts Redis and the three services on their default ports; Ctrl-C stops everything.
run: build
	@bash scripts/run.sh $(BUILD_DIR)

# The guided demo: a client's goal from a vague wish to progress, adherence, a stalled second
# goal and the FHIR export, through trellisctl, each step checked. Uses the stack of `make run`
# when it is up, else starts one of its own on free ports and stops it at the end.
demo: build
	@bash scripts/demo.sh $(BUILD_DIR)

# clang-format check and clang-tidy on files changed against origin/main (or all with ALL=1).
lint: configure
	@bash scripts/lint.sh $(BUILD_DIR)

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer.
asan: bootstrap
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTRELLIS_SANITIZE=ON
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

# The libFuzzer targets of fuzz/ (clang, ASan + UBSan), each run FUZZ_SECONDS from a copy of its
# seed corpus; fails with the reproducer's path when one crashes. Not part of `make test`, which
# replays the corpus and the crash regressions through the same code under GCC.
fuzz: bootstrap
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
		--no-warn-unused-cli \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRELLIS_FUZZ=ON
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target $(addprefix trellis_fuzz_,$(FUZZ_TARGETS))
	@bash scripts/fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Container images trellis:$(TAG) and trellis-redis:$(TAG) with podman or docker, built offline
# from a debootstrapped Debian base (deploy/README.md).
TAG ?= dev
image:
	@BUILD_DIR=$(BUILD_DIR) TAG=$(TAG) bash scripts/image.sh

# What CI checks of the deployment: the strict validator rejects known-bad manifests, every
# overlay renders and validates against the Kubernetes API types, the image builds, and the dev
# overlay runs under podman kube play and answers health, smoke calls and metrics scrapes.
deploy-check:
	@BUILD_DIR=$(BUILD_DIR) TAG=$(TAG) bash scripts/deploy_check.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)
