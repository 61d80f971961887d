#!/usr/bin/env bash
# Installs what building and testing wsflyte needs on Debian bookworm, and
# only what is missing: Debian packages (as root) and the test servers' npm
# packages (from their lockfile).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config librdkafka-dev libavro-dev libcurl4-openssl-dev
          libjansson-dev libyaml-dev libmicrohttpd-dev libcmocka-dev libssl-dev kcat curl
          nodejs npm clang-format valgrind jq
          prometheus) # jq: registry.test.mjs runs the command wsflyte prints; prometheus:
                      # promtool checks deploy/monitoring/ (a 19 MB download)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A machine with Node.js installed outside Debian's packages keeps its own.
if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs}")
    missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The test servers and tests need Node.js 18.20 or later (bookworm's is 18.20).
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
              process.exit(a > 18 || (a === 18 && b >= 20) ? 0 : 1)'; then
    echo "install-deps: Node.js $(node --version) at $(command -v node) is too old:" \
         "the test servers need 18.20 or later" >&2
    exit 1
fi

if [ ! -f tests/servers/node_modules/.package-lock.json ] ||
   [ tests/servers/package-lock.json -nt tests/servers/node_modules/.package-lock.json ]; then
    echo "install-deps: npm ci in tests/servers"
    (cd tests/servers && npm ci --no-audit --no-fund --loglevel=error)
fi
