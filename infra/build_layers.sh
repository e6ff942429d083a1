#!/usr/bin/env bash
# Builds the two Lambda layers without Docker (docs/deploy.md, "Building the layers").
#
#   bash infra/build_layers.sh [all]     both layers (what `make layers` and infra/synth.sh run)
#   bash infra/build_layers.sh dependencies
#       layers/dependencies/python: exactly the wheels pinned, with their hashes, in
#       layers/dependencies/requirements.lock, as manylinux arm64 wheels for CPython 3.14.
#       Skipped when the lock, the compiler and this script are unchanged (FORCE=1 rebuilds).
#   bash infra/build_layers.sh shared
#       layers/shared-build/python: a copy of layers/shared/python without caches (and with
#       bytecode, below), for the stack to ship in place of layers/shared while the sources in it are
#       still those of layers/shared.
#   bash infra/build_layers.sh lock [UV ARGS...]
#       Resolves pyproject.toml's [project].dependencies again for the Lambda target (uv, from the
#       package index) into the lock; arguments go to uv, e.g. --upgrade or --upgrade-package boto3.
#       Without them the pins already in the lock are kept where they still fit.
#   bash infra/build_layers.sh bytecode DIR PYTHON
#       Compiles DIR's sources with PYTHON exactly as the layers are compiled (the tests use it).
#
# Bytecode: with a Python 3.14 interpreter on the machine (python3.14 on PATH, or
# LAYER_PYTHON=/path/to/it) both layers also get bytecode for it, so a cold start does not compile
# them (/opt is read-only, nothing compiled there is kept); without one they ship sources only and
# the build says so. The bytecode is the same whatever the build directory and the time: it is
# unchecked-hash (the source's hash inside, not its mtime; Python trusts it, /opt being read-only),
# and the source path compiled into it is /opt/python/... (where Lambda mounts a layer) rather than
# the build directory's. PYTHONHASHSEED is pinned as well, though marshal sorts set constants.
# DEPENDENCIES_LAYER and SHARED_LAYER_BUILD move the output (tests build into temporary directories).
set -euo pipefail
CALLER_DIR="$PWD"
SELF="$(realpath "$0")"
cd "$(dirname "$SELF")/.."

# A path given by the caller, relative to where they ran the script.
from_caller() { if [[ "$1" == /* ]]; then echo "$1"; else echo "$CALLER_DIR/$1"; fi; }

PYTHON_VERSION="3.14"
PLATFORM="manylinux2014_aarch64"
UV_PLATFORM="aarch64-manylinux2014"  # the same target, as uv spells it
LAYER_MOUNT="/opt/python"            # where Lambda puts a layer's python/ directory
LOCK="layers/dependencies/requirements.lock"
DEPENDENCIES_LAYER="$( [[ -n "${DEPENDENCIES_LAYER:-}" ]] && from_caller "$DEPENDENCIES_LAYER" || echo layers/dependencies)"
SHARED_LAYER_BUILD="$( [[ -n "${SHARED_LAYER_BUILD:-}" ]] && from_caller "$SHARED_LAYER_BUILD" || echo layers/shared-build)"
SHARED_SOURCE="layers/shared/python"
PY=".venv/bin/python"
[[ -x "$PY" ]] || PY="python3"

log() { echo "build_layers: $*"; }

# compile_bytecode DIR PYTHON: DIR's .py files to __pycache__/*.cpython-XY.pyc, reproducibly.
compile_bytecode() {
    PYTHONHASHSEED=0 "$2" -m compileall -q -j 0 -d "$LAYER_MOUNT" --invalidation-mode unchecked-hash "$1"
}

# The interpreter that compiles the layers' bytecode: it must be the runtime's version.
find_compiler() {
    COMPILER="${LAYER_PYTHON:-$(command -v "python$PYTHON_VERSION" || true)}"
    COMPILER_VERSION=""
    if [[ -n "$COMPILER" ]]; then
        COMPILER_VERSION="$("$COMPILER" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || true)"
        if [[ "${COMPILER_VERSION%.*}" != "$PYTHON_VERSION" ]]; then
            echo "build_layers: $COMPILER is Python ${COMPILER_VERSION:-?}, not $PYTHON_VERSION: no bytecode" >&2
            COMPILER=""
            COMPILER_VERSION=""
        fi
    fi
}

no_compiler_note() {
    echo "build_layers: no Python $PYTHON_VERSION here (python$PYTHON_VERSION or LAYER_PYTHON): the $1 layer" \
        "ships sources only, and each cold start compiles them (docs/deploy.md)" >&2
}

build_dependencies() {
    local target="$DEPENDENCIES_LAYER/python"
    local stamp="$target/.build-stamp"  # inside the gitignored target; excluded from the layer asset
    if [[ ! -f "$LOCK" ]]; then
        echo "build_layers: $LOCK is missing: bash infra/build_layers.sh lock" >&2
        exit 1
    fi
    local fingerprint
    fingerprint="$(printf '%s\n' "$PYTHON_VERSION" "$PLATFORM" "${COMPILER_VERSION:-no-bytecode}" \
        | cat - "$LOCK" "$SELF" | cksum | cut -d' ' -f1)"
    if [[ "${FORCE:-0}" != "1" && -f "$stamp" && "$(cat "$stamp")" == "$fingerprint" ]]; then
        log "$target is up to date"
        return
    fi
    log "$LOCK -> $target ($PLATFORM, cp${PYTHON_VERSION/./})"
    rm -rf "$target"
    mkdir -p "$target"
    # --require-hashes: every wheel must be one the lock names, byte for byte, and every
    # dependency of one must be in the lock too (pip refuses an unpinned one).
    "$PY" -m pip install --quiet --disable-pip-version-check --no-compile --require-hashes \
        --platform "$PLATFORM" --only-binary=:all: \
        --python-version "$PYTHON_VERSION" --implementation cp \
        --target "$target" -r "$LOCK"
    # Console scripts and bytecode of the build machine's Python are of no use in Lambda.
    rm -rf "${target:?}/bin"
    find "$target" -name __pycache__ -type d -prune -exec rm -rf {} +
    if [[ -n "$COMPILER" ]]; then
        compile_bytecode "$target" "$COMPILER"
        log "dependencies: bytecode compiled with $COMPILER (kept by the stack's DEPENDENCY_LAYER_EXCLUDES)"
    else
        no_compiler_note dependencies
    fi
    echo "$fingerprint" > "$stamp"
    log "dependencies done ($(du -sh "$target" | cut -f1))"
}

build_shared() {
    # Built next to the output and moved in place, so a synth never sees half a layer.
    staging="$SHARED_LAYER_BUILD.tmp.$$"
    trap 'rm -rf "$staging"' EXIT
    rm -rf "$staging"
    mkdir -p "$staging"
    cp -R "$SHARED_SOURCE" "$staging/python"
    find "$staging" \( -name __pycache__ -o -name .pytest_cache -o -name tests \) -prune -exec rm -rf {} +
    find "$staging" -name '*.pyc' -delete
    if [[ -n "$COMPILER" ]]; then
        compile_bytecode "$staging/python" "$COMPILER"
        log "shared: bytecode compiled with $COMPILER"
    else
        no_compiler_note shared
    fi
    rm -rf "$SHARED_LAYER_BUILD"
    mv "$staging" "$SHARED_LAYER_BUILD"
    log "shared: $SHARED_SOURCE -> $SHARED_LAYER_BUILD/python"
}

lock() {
    local uv=".venv/bin/uv"
    [[ -x "$uv" ]] || uv="$(command -v uv || true)"
    if [[ -z "$uv" ]]; then
        echo "build_layers: uv is needed to lock (.venv/bin/pip install 'uv>=0.13,<0.14')" >&2
        exit 1
    fi
    # The hashes of every file of each pinned release (pip picks the arm64 wheel among them).
    "$uv" pip compile pyproject.toml --quiet --generate-hashes --annotation-style line \
        --python-platform "$UV_PLATFORM" --python-version "$PYTHON_VERSION" \
        --custom-compile-command "bash infra/build_layers.sh lock" --output-file "$LOCK" "$@"
    log "$LOCK written"
}

command="${1:-all}"
case "$command" in
    all)
        find_compiler
        build_dependencies
        build_shared
        ;;
    dependencies)
        find_compiler
        build_dependencies
        ;;
    shared)
        find_compiler
        build_shared
        ;;
    lock)
        shift
        lock "$@"
        ;;
    bytecode)
        [[ $# -eq 3 ]] || { echo "usage: $0 bytecode DIR PYTHON" >&2; exit 2; }
        [[ -d "$(from_caller "$2")" ]] || { echo "build_layers: no directory $2" >&2; exit 2; }
        python="$3"
        [[ "$python" == */* ]] && python="$(from_caller "$python")"
        compile_bytecode "$(from_caller "$2")" "$python"
        ;;
    *)
        echo "usage: $0 [all | dependencies | shared | lock [UV ARGS...] | bytecode DIR PYTHON]" >&2
        exit 2
        ;;
esac
