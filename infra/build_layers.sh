#!/usr/bin/env bash
# Builds the "dependencies" Lambda layer without Docker: the runtime dependencies of pyproject.toml
# ([project].dependencies) as manylinux arm64 wheels for CPython 3.14, into layers/dependencies/python.
# The "shared" layer (layers/shared) is source and needs no build.
# With a Python 3.14 interpreter on the machine (python3.14 on PATH, or LAYER_PYTHON=/path/to/it),
# the layer's sources are also compiled to bytecode for it (unchecked-hash: /opt is read-only and the
# zip keeps no usable mtimes), so a cold start does not compile them; without one the layer ships
# sources only and says so.
# Skips the build when the dependency list, the compiler and this script are unchanged (FORCE=1 rebuilds).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_VERSION="3.14"
PLATFORM="manylinux2014_aarch64"
TARGET="layers/dependencies/python"
STAMP="$TARGET/.build-stamp"  # inside the gitignored target; excluded from the layer asset
PY=".venv/bin/python"
[[ -x "$PY" ]] || PY="python3"

mapfile -t REQUIREMENTS < <("$PY" - <<'PYEOF'
import tomllib
with open("pyproject.toml", "rb") as handle:
    for requirement in tomllib.load(handle)["project"]["dependencies"]:
        print(requirement)
PYEOF
)
if [[ ${#REQUIREMENTS[@]} -eq 0 ]]; then
    echo "build_layers: no [project].dependencies in pyproject.toml" >&2
    exit 1
fi

# The interpreter that compiles the layer's bytecode: it must be the runtime's version.
COMPILER="${LAYER_PYTHON:-$(command -v "python$PYTHON_VERSION" || true)}"
if [[ -n "$COMPILER" ]]; then
    compiler_version="$("$COMPILER" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
    if [[ "$compiler_version" != "$PYTHON_VERSION" ]]; then
        echo "build_layers: $COMPILER is Python ${compiler_version:-?}, not $PYTHON_VERSION: no bytecode" >&2
        COMPILER=""
    fi
fi

fingerprint="$(printf '%s\n' "$PYTHON_VERSION" "$PLATFORM" "${COMPILER:-no-bytecode}" "${REQUIREMENTS[@]}" | cat - "$0" | cksum | cut -d' ' -f1)"
if [[ "${FORCE:-0}" != "1" && -d "$TARGET" && -f "$STAMP" && "$(cat "$STAMP")" == "$fingerprint" ]]; then
    echo "build_layers: $TARGET is up to date"
    exit 0
fi

echo "build_layers: ${REQUIREMENTS[*]} -> $TARGET ($PLATFORM, cp${PYTHON_VERSION/./})"
rm -rf "$TARGET"
mkdir -p "$TARGET"
"$PY" -m pip install --quiet --disable-pip-version-check --no-compile \
    --platform "$PLATFORM" --only-binary=:all: \
    --python-version "$PYTHON_VERSION" --implementation cp \
    --target "$TARGET" "${REQUIREMENTS[@]}"
# Console scripts and bytecode of the build machine's Python are of no use in Lambda.
rm -rf "$TARGET/bin"
find "$TARGET" -name __pycache__ -type d -prune -exec rm -rf {} +
if [[ -n "$COMPILER" ]]; then
    "$COMPILER" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$TARGET" >/dev/null
    echo "build_layers: bytecode compiled with $COMPILER (kept by the stack's DEPENDENCY_LAYER_EXCLUDES)"
else
    echo "build_layers: no Python $PYTHON_VERSION here (python$PYTHON_VERSION or LAYER_PYTHON): the layer ships" \
        "sources only, and each cold start compiles them (docs/benchmarks.md)" >&2
fi
echo "$fingerprint" > "$STAMP"
echo "build_layers: done ($(du -sh "$TARGET" | cut -f1))"
