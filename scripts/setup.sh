#!/usr/bin/env bash
# Installs what the project needs on Debian 12 (or Ubuntu 22.04+): a C compiler, Debian's
# python3 with torch, numpy and matplotlib, OpenMPI, node and npm (js-tiktoken is the tokenizer
# tests' reference). Safe to run again: it installs only what is missing.
#   scripts/setup.sh            (as root, or a user with sudo)      also: make setup
#
# THE package list of the project: .ci/run calls this script, so a package added here is what
# CI installs too. Add new needs to PACKAGES below, nowhere else.
#
# Machines that already carry node from NodeSource (or nvm) get no Debian nodejs/npm: Debian's
# npm depends on Debian's nodejs and conflicts with NodeSource's, which already includes npm.
# A python3 first on PATH that lacks torch (pyenv, conda) is left alone: the scripts and tests
# find Debian's through dev/find_python.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential python3 python3-torch python3-numpy python3-matplotlib libopenblas0-pthread
          unicode-data openmpi-bin libopenmpi-dev time curl ca-certificates clang clang-14 libclang-rt-14-dev
          libgumbo-dev libcld2-dev libzstd-dev libdeflate-dev zlib1g-dev zstd python3.11-doc
          debian-reference-en debian-reference-de debian-reference-fr debian-reference-ja
          debian-reference-zh-cn debian-reference-es debian-reference-it)

if ! command -v apt-get > /dev/null 2>&1 || ! command -v dpkg > /dev/null 2>&1; then
    echo "error: scripts/setup.sh needs a Debian-based system (apt-get); elsewhere install: a C11 compiler," \
         "python3 with torch, numpy and matplotlib, node + npm" >&2
    exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo > /dev/null 2>&1 || { echo "error: scripts/setup.sh must run as root (no sudo found)" >&2; exit 1; }
    SUDO=(sudo)
fi

need=()
for pkg in "${PACKAGES[@]}"; do
    dpkg -s "$pkg" > /dev/null 2>&1 || need+=("$pkg")
done
# node: keep whatever the machine has. npm: only with Debian's own nodejs (NodeSource's node
# ships npm; asking apt for npm there fails the whole install).
if ! command -v node > /dev/null 2>&1; then
    need+=(nodejs npm)
elif ! command -v npm > /dev/null 2>&1; then
    node_ver=$(dpkg-query -W -f='${Version}' nodejs 2> /dev/null || true)
    if [ -n "$node_ver" ] && [[ "$node_ver" != *nodesource* ]]; then
        need+=(npm)
    else
        echo "note: node $(node --version 2>/dev/null) is not Debian's and has no npm: install npm with it" \
             "(the tokenizer tests need it; training does not)" >&2
    fi
fi

if [ ${#need[@]} -gt 0 ]; then
    log=${TMPDIR:-/tmp}/gpt2c_setup_apt.log
    echo "installing: ${need[*]} (log: $log)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq "${need[@]}"; } \
            > "$log" 2>&1; then
        echo "error: apt-get install failed; last lines of $log:" >&2
        tail -n 15 "$log" >&2
        exit 1
    fi
else
    echo "all packages present"
fi

# The Python the scripts will use (Debian's, unless PY or PATH offers another that fits).
source dev/find_python.sh numpy torch matplotlib || { echo "$PY_ERROR" >&2; exit 1; }
echo "python with torch, numpy, matplotlib: $PY"
command -v npm > /dev/null 2>&1 && echo "node $(node --version), npm $(npm --version)"
echo "set-up done: next  scripts/train_tinyshakespeare_cpu.sh  (train)  or  make test"
