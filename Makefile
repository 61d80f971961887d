# The two commands a newcomer needs: `make demo` and `make test`.
# Both install what is missing (Debian packages, npm packages) first.
MAKEFLAGS += --no-print-directory
BUILD ?= build
JOBS  ?= 2

.PHONY: all deps build test unit servers-test integration demo bench format format-check sanitize clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# Every test: unit tests (cmocka), the test servers' own tests, and the
# end-to-end tests that run wsflyte against wsflyte-devkafka and the servers.
test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	cd tests/servers && node --test test/
	WSFLYTE_BUILD_DIR=$(abspath $(BUILD)) node --test --test-concurrency=1 tests/integration/

unit: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

demo: build
	WSFLYTE_BUILD_DIR=$(abspath $(BUILD)) node tools/demo.mjs

# Throughput and latency with 10 ms per API call, concurrency 1, 8 and 64
# (a few minutes; not part of `make test`).
bench: build
	WSFLYTE_BUILD_DIR=$(abspath $(BUILD)) node tools/bench.mjs

format:
	clang-format -i consumer/*.[ch] handlers/*.[ch] tools/*.c tests/unit/*.c

format-check:
	clang-format --dry-run -Werror consumer/*.[ch] handlers/*.[ch] tools/*.c tests/unit/*.c

# The unit tests again under ASan + UBSan.
sanitize: deps
	cmake -S . -B $(BUILD)-asan -DWSFLYTE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(BUILD)-asan -j$(JOBS)
	cd $(BUILD)-asan && ctest --output-on-failure -j$(JOBS)

clean:
	rm -rf $(BUILD) $(BUILD)-asan

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
