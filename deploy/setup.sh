#!/usr/bin/env bash
#   deploy/setup.sh: installs everything zorch needs from Debian 12 packages,
#   then configures and builds it.
#
#     deploy/setup.sh [--no-build] [--asan]
#
#   --no-build   install the packages only
#   --asan       also build build-asan/ (AddressSanitizer + UBSan, debug)
#
#   Idempotent: packages already installed are left alone, an existing build
#   directory is reconfigured rather than recreated. Runs as root without
#   prompts; as another user it uses sudo when sudo is there.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/.." && pwd)"

build=1
asan=0
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        --asan) asan=1 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^#  *//; s/^#//'; exit 0 ;;
        *) echo "setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

#   Every package, with what uses it.
packages=(
    build-essential        # gcc, make, libc headers: compiles every actor
    meson                  # the build system (meson.build files)
    ninja-build            # meson's back end
    pkg-config             # meson finds the libraries below through it
    clang                  # tests/fuzz: libFuzzer targets (clang -fsanitize=fuzzer)
    libclang-rt-14-dev     # clang's fuzzer, ASan and UBSan runtimes (fuzz tests)
    libzmq3-dev            # ZeroMQ: every socket between actors (zmq_dep)
    libczmq-dev            # CZMQ: zconfig (zorch.conf), zsys logging, zauth (czmq_dep)
    libmsgpack-dev         # msgpack-c packer: encoding every message (msgpack_dep)
    libcriterion-dev       # tests/unit: the Criterion unit-test framework (criterion_dep)
    libhiredis-dev         # zorch-cache L2 (Redis client), planned actor
    libpq-dev              # zorch-cache L3 and zorch-pool SQL pools (PostgreSQL), planned
    libcurl4-openssl-dev   # zorch-monitor: alert webhooks; the planned pool's HTTP pools (curl multi)
    libjansson-dev         # JSON <-> msgpack at the edges: zorch inject, exec handler (jansson_dep)
    libmicrohttpd-dev      # zorch-monitor's HTTP server (/health /metrics /dashboard); the planned gateway
    redis-server           # real Redis for the cache's tests, started by the tests themselves
    postgresql             # real PostgreSQL for the cache/pool tests, started by the tests
    procps                 # ps: tests/integration's zombie and process checks
    psmisc                 # fuser, pstree: finding who holds a port when a test is stuck
    iproute2               # ss: tests/integration checks listening ports
    valgrind               # memory checks of actors by hand (valgrind build/broker/zorch-broker)
    hyperfine              # BENCHMARKS.md timings
    xxd                    # tests/fuzz: inspecting crash inputs; hex dumps of frames
    jq                     # tests/integration: checks NDJSON results and dlq list --json
    curl                   # tests/integration monitor_*: GETs /metrics, /health, /api/* from zorch-monitor
    prometheus             # promtool: tests/integration/monitor_metrics checks /metrics (promtool check metrics)
    chromium               # tests/integration/monitor_dashboard: loads the dashboard headless, takes a screenshot
    wrk                    # benchmarks: /health latency of zorch-monitor under load
    gnuplot-nox            # tools/bench/autoscale.sh: the plot of load, forecast, workers and p99 (PNG)
    python3                # tools/bench/compare.sh: medians and ratios of the runs
    git                    # the source tree; the build names its revision (zorch --version)
    help2man               # man pages of zorch and each actor, made from their --help at build time
    ca-certificates        # TLS roots for libcurl (pool's HTTPS)
    nghttp2-server         # nghttpd: tests/integration/pool_h2 (the pool over HTTP/2 and TLS)
    openssl                # tests/integration/pool_h2: a throwaway certificate for nghttpd
)

#   Root, or sudo when we are not root.
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "setup.sh: not root and no sudo; install these packages by hand:" >&2
        echo "  ${packages[*]}" >&2
        sudo=(false)
    fi
fi

missing=()
for p in "${packages[@]}"; do
    #   dpkg-query prints "install ok installed" for a package that is there.
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    #   apt-get update only when the package lists are missing or older than
    #   an hour, so a second run does not touch the network.
    lists=/var/lib/apt/lists
    if [ -z "$(find "$lists" -maxdepth 1 -name '*Packages*' -mmin -60 2>/dev/null | head -1)" ]; then
        "${sudo[@]}" apt-get update
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
else
    echo "setup.sh: all ${#packages[@]} packages already installed"
fi

[ "$build" -eq 1 ] || exit 0

cd "$top"

#   Configures dir with the given options (reconfigures when it exists), then
#   builds it.
s_build () {
    local dir="$1"; shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@"
    else
        rm -rf "$dir"
        meson setup "$dir" "$@"
    fi
    ninja -C "$dir"
}

s_build build --buildtype=release
if [ "$asan" -eq 1 ]; then
    s_build build-asan -Dsanitize=true --buildtype=debug -Db_lto=false
fi
if [ "$asan" -eq 1 ]; then
    echo "setup.sh: built $top/build and $top/build-asan"
else
    echo "setup.sh: built $top/build"
fi
