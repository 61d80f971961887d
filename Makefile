# The two commands a newcomer needs: `make demo` and `make test`.
# Both install what is missing (Debian packages, npm packages) first.
MAKEFLAGS += --no-print-directory
BUILD ?= build
JOBS  ?= 2

.PHONY: all deps build sanitize-build release-build test unit servers-test deploy-test integration e2e e2e-asan e2e-both \
        sanitize valgrind valgrind-unit demo bench bench-restore bench-relist bench-audit bench-resync bench-fleet format \
        format-check clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# The same sources built with ASan + UBSan, at -O0 so that reports point at
# the right line.  A separate tree: the release build stays what ships.
SAN_BUILD ?= $(BUILD)-asan

$(SAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(SAN_BUILD) -DWSFLYTE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null

sanitize-build: deps $(SAN_BUILD)/CMakeCache.txt
	cmake --build $(SAN_BUILD) -j$(JOBS)

# What deploy/Dockerfile ships: CMAKE_BUILD_TYPE=Release (-O3).  Its
# inlining finds -Werror warnings (maybe-uninitialized, restrict) that the
# -O2 and -O0 trees do not, so `make test` builds it too, with the unit
# tests, and runs those (about 15 s on 2 cores in all).
REL_BUILD ?= $(BUILD)-release

$(REL_BUILD)/CMakeCache.txt:
	cmake -S . -B $(REL_BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

release-build: deps $(REL_BUILD)/CMakeCache.txt
	cmake --build $(REL_BUILD) -j$(JOBS)

# Sanitizer settings for the unit tests: a leak is an error, and the first
# report ends the program with SIGABRT, which no test mistakes for a pass.
# The end-to-end harness sets the same for every program it starts (and
# points ASan's log_path at a folder it checks).
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:disable_coredump=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1 \
          UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:disable_coredump=1:print_stacktrace=1

# Every test: the formatting of every C file (first: under a second), the
# unit tests (cmocka) of the release build, of the shipped -O3 build, under
# ASan + UBSan and under valgrind; the test servers' own tests; the
# deployment manifests; and the end-to-end tests (wsflyte against
# wsflyte-devkafka and the servers) against the release and the sanitizer
# build.  Once the three builds are done, every check is a job of its own
# and all run at once: the end-to-end parts mostly wait on brokers and
# timers, so the unit tests and valgrind (about 4 minutes one after the
# other) run beside them instead of before them.
CHECKS    = check-unit check-unit-release check-unit-asan check-valgrind check-servers check-deploy
TEST_JOBS ?= 14
.PHONY: $(CHECKS)
test: format-check build sanitize-build release-build
	@$(MAKE) -j$(TEST_JOBS) -Otarget $(CHECKS) $(E2E_PARTS)

# The checks of `make test` that are not end-to-end; these do not build.
check-unit:
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
check-unit-release:
	cd $(REL_BUILD) && ctest --output-on-failure -j$(JOBS)
check-unit-asan:
	cd $(SAN_BUILD) && $(SAN_ENV) ctest --output-on-failure -j$(JOBS)
check-valgrind:
	$(valgrind_unit)
check-servers:
	cd tests/servers && node --test test/
check-deploy:
	WSFLYTE_BUILD_DIR=$(abspath $(BUILD)) node --test tests/deploy/

unit: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

deploy-test: build
	WSFLYTE_BUILD_DIR=$(abspath $(BUILD)) node --test tests/deploy/

# The end-to-end suite against what is built (these three do not build).
# One file at a time: each starts its own stack and some measure timings.
E2E_FILES ?= tests/integration/
E2E = node --test --test-concurrency=1 $(E2E_FILES)
e2e:
	WSFLYTE_BUILD_DIR=$(abspath $(BUILD)) $(E2E)
e2e-asan:
	WSFLYTE_BUILD_DIR=$(abspath $(SAN_BUILD)) $(SAN_ENV) $(E2E)
# Both builds at once, each in four parts: eight stacks side by side.  The
# suite spends its time waiting on brokers, timers, retries and Retry-After
# pauses, not computing (a load of about 2 on the 2 cores with six stacks),
# so the eight parts take about as long as the longest: ~7 minutes instead
# of ~50 with one file after the other.  The parts are balanced by the
# durations each run prints per file (8 to 10 minutes each on a busy
# machine); a file not named in E2E_PART_A, _B or _C runs in the fourth.
# -Otarget prints each run's output in one piece when it ends; E2E_JOBS=1
# runs them one after the other.
E2E_ALL    := $(sort $(wildcard tests/integration/*.test.mjs))
E2E_PART_A ?= $(addprefix tests/integration/,backlog.test.mjs delivery-rebalance.test.mjs \
              fleet.test.mjs lifecycle.test.mjs monitoring.test.mjs pacing.test.mjs \
              render-diff.test.mjs security.test.mjs)
E2E_PART_B ?= $(addprefix tests/integration/,ack.test.mjs authz-limit.test.mjs \
              delivery.test.mjs drift-fight.test.mjs lifecycle-economy.test.mjs \
              partitions.test.mjs seed.test.mjs status.test.mjs superseded.test.mjs)
E2E_PART_C ?= $(addprefix tests/integration/,cli.test.mjs delivery-crash.test.mjs drift.test.mjs \
              drift-large.test.mjs ops.test.mjs registry-userinfo.test.mjs repair-yield.test.mjs \
              settle.test.mjs trace.test.mjs workspace-semantics.test.mjs)
E2E_PART_D := $(filter-out $(E2E_PART_A) $(E2E_PART_B) $(E2E_PART_C),$(E2E_ALL))
E2E_RUN    := node --test --test-concurrency=1
E2E_JOBS   ?= 8
# e2e-<build>-<part>: release or asan, a, b, c or d.
E2E_DIR_release  = $(abspath $(BUILD))
E2E_DIR_asan     = $(abspath $(SAN_BUILD))
E2E_ENV_asan     = $(SAN_ENV)
E2E_PART_FILES_a = $(E2E_PART_A)
E2E_PART_FILES_b = $(E2E_PART_B)
E2E_PART_FILES_c = $(E2E_PART_C)
E2E_PART_FILES_d = $(E2E_PART_D)
E2E_PARTS        = $(foreach b,release asan,$(foreach p,a b c d,e2e-$(b)-$(p)))
.PHONY: $(E2E_PARTS)
# One file at a time, each timed (the figures the parts are balanced by);
# a part goes on after a failing file and fails at its end.
$(E2E_PARTS): e2e-%:
	@fail=0; for f in $(E2E_PART_FILES_$(lastword $(subst -, ,$*))); do \
	  start=$$(date +%s); \
	  WSFLYTE_BUILD_DIR=$(E2E_DIR_$(firstword $(subst -, ,$*))) $(E2E_ENV_$(firstword $(subst -, ,$*))) \
	    $(E2E_RUN) $$f || fail=1; \
	  echo "e2e-$*: $$f $$(( $$(date +%s) - start )) s"; \
	done; exit $$fail
e2e-both:
	@$(MAKE) -j$(E2E_JOBS) -Otarget $(E2E_PARTS)

integration: build
	@$(MAKE) e2e

demo: build
	WSFLYTE_BUILD_DIR=$(abspath $(BUILD)) WSFLYTE_DEMO_REGISTRY=$(REGISTRY) node tools/demo.mjs

# Requests, writes and wsflyte's instructions (callgrind) per kind of event,
# then the round trips of a create and a member change with 100 ms per API
# call, then throughput and latency with 10 ms per API call, concurrency 1,
# 8, 16 and 64 (a few minutes; not part of `make test`).
# BENCH_ARGS="--only cost" (or rtt, throughput) runs one part alone.
BENCH_ARGS ?=
bench: build
	WSFLYTE_BUILD_DIR=$(abspath $(BUILD)) node tools/bench.mjs $(BENCH_ARGS)

# Restores 10,000 workspaces' state records (8 partitions of librdkafka's
# mock cluster) in a fresh process: prints the time and the peak RSS with
# all of them in memory (about 10 s; not part of `make test`).
BENCH_RESTORE_ARGS ?=
bench-restore: build
	$(BUILD)/bench_restore $(BENCH_RESTORE_ARGS)

# The watch's relist of one workspace of 1,000, 2,000 and 4,000 members:
# prints the time per size (a few minutes; not part of `make test`).
BENCH_RELIST_ARGS ?=
bench-relist: build
	WSFLYTE_BUILD_DIR=$(abspath $(BUILD)) node tools/bench-relist.mjs $(BENCH_RELIST_ARGS)

# wsflyte-audit over 1,000 workspaces provisioned by wsflyte: its requests,
# time and peak memory (a few minutes; not part of `make test`).
# BENCH_AUDIT_ARGS="1000 10000" adds 10,000 (about 10 minutes more).
BENCH_AUDIT_ARGS ?= 1000
bench-audit: build
	WSFLYTE_BUILD_DIR=$(abspath $(BUILD)) node tools/bench-audit.mjs $(BENCH_AUDIT_ARGS)

# FlyteAdmin's requests per resync pass at rest, 50 workspaces by default
# (a minute; not part of `make test`).
BENCH_RESYNC_ARGS ?= --workspaces 50
bench-resync: build
	WSFLYTE_BUILD_DIR=$(abspath $(BUILD)) node tools/bench-resync.mjs $(BENCH_RESYNC_ARGS)

# 10,000 workspaces (3 domains, 5 members) over two execution clusters: state
# restore and peak RSS with the watch caches filled, a resync pass's requests,
# the requests at rest, a create's latency with an empty and a full fleet, and
# a move (about 35 minutes; not part of `make test`).
# BENCH_FLEET_ARGS="--workspaces 500 --rest 60" is a quick check (5 minutes).
BENCH_FLEET_ARGS ?=
bench-fleet: build
	WSFLYTE_BUILD_DIR=$(abspath $(BUILD)) node tools/bench-fleet.mjs $(BENCH_FLEET_ARGS)

# Every C file we write, in every layer, the tools and the tests.
C_FILES = $(wildcard core/*.[ch] handlers/*.[ch] kafka/*.[ch] consumer/*.[ch] tools/*.[ch] \
                     tests/unit/*.[ch] tests/fuzz/*.[ch] tests/bench/*.[ch])

format:
	clang-format -i $(C_FILES)

format-check:
	clang-format --dry-run -Werror $(C_FILES)

# The unit and end-to-end tests under ASan + UBSan only.
sanitize: sanitize-build
	cd $(SAN_BUILD) && $(SAN_ENV) ctest --output-on-failure -j$(JOBS)
	@$(MAKE) e2e-asan

# Memcheck on the release build (valgrind cannot run ASan binaries).
# Definite and indirect leaks are errors.  "Possibly lost" blocks (only an
# interior pointer left, as a library's thread may hold at exit) are listed
# but do not fail; none shows today.
VALGRIND = valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
           --error-exitcode=1 --num-callers=30 --suppressions=$(abspath tests/valgrind.supp)
# Every unit test ctest knows (not whatever test_* binary lies around) under
# valgrind, its log shown only when it fails.  ~15 s, so `make test` runs it:
# memcheck sees reads of uninitialised memory, which ASan does not.
define valgrind_unit
@set -e; cd $(BUILD); \
	for t in $$(ctest -N | sed -n 's/^ *Test *#[0-9]*: unit\.//p'); do \
	  echo "valgrind $$t"; \
	  if ! $(VALGRIND) -q --log-file=$$t.valgrind.log ./$$t >$$t.valgrind.out 2>&1; then \
	    cat $$t.valgrind.out $$t.valgrind.log; exit 1; fi; \
	done
endef

valgrind-unit: build
	$(valgrind_unit)

# The unit tests, then VALGRIND_E2E with the C programs named in
# VALGRIND_WRAP (all: wsflyte, the tools and wsflyte-devkafka) run by the
# harness under valgrind; it fails a test on any valgrind error.  About 4
# minutes, so not part of `make test`.  The whole suite with wsflyte alone
# under valgrind takes about 15 minutes:
#   make valgrind VALGRIND_E2E=tests/integration/ VALGRIND_WRAP=wsflyte
VALGRIND_E2E  ?= tests/integration/seed.test.mjs tests/integration/lifecycle.test.mjs
VALGRIND_WRAP ?= all
valgrind: build
	$(valgrind_unit)
	WSFLYTE_BUILD_DIR=$(abspath $(BUILD)) WSFLYTE_WRAP=$(VALGRIND_WRAP) WSFLYTE_WRAPPER="$(VALGRIND)" \
	  node --test --test-concurrency=1 $(VALGRIND_E2E)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(REL_BUILD)

# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang, ASan and UBSan in
# $(BUILD)-fuzz; each runs for FUZZ_SECONDS from its seed corpus
# (tests/fuzz/corpus/<target>/, read-only) plus a working corpus in
# $(BUILD)-fuzz/corpus/<target>/.  Crashes land in $(BUILD)-fuzz/artifacts/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= decode_event config k8s_response flyte_response kubeconfig
.PHONY: fuzz
fuzz: deps
	@command -v clang >/dev/null || { echo "make fuzz: needs clang (apt-get install clang)"; exit 1; }
	cmake -S . -B $(BUILD)-fuzz -DCMAKE_C_COMPILER=clang -DWSFLYTE_FUZZ=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD)-fuzz -j$(JOBS) --target fuzzers
	@mkdir -p $(BUILD)-fuzz/artifacts
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(BUILD)-fuzz/corpus/$$t; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s (log: $(BUILD)-fuzz/fuzz_$$t.log)"; \
	  if ! $(BUILD)-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	      -print_final_stats=1 -artifact_prefix=$(BUILD)-fuzz/artifacts/$$t- \
	      $(BUILD)-fuzz/corpus/$$t tests/fuzz/corpus/$$t >$(BUILD)-fuzz/fuzz_$$t.log 2>&1; then \
	    tail -n 40 $(BUILD)-fuzz/fuzz_$$t.log; exit 1; fi; \
	  grep -E '^stat::number_of_executed_units' $(BUILD)-fuzz/fuzz_$$t.log | sed 's/^/  /'; \
	done

# wsflyte-status answering for one workspace while the state topic holds
# 10,000 workspaces' records (8 partitions of librdkafka's mock cluster):
# prints each run's wall and CPU time (about 15 s; not part of `make test`).
.PHONY: bench-status
BENCH_STATUS_ARGS ?=
bench-status: build
	$(BUILD)/bench_status $(BENCH_STATUS_ARGS)
