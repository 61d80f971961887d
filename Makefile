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
