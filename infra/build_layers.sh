#!/usr/bin/env bash
# Builds the "dependencies" Lambda layer without Docker: the runtime dependencies of pyproject.toml
# ([project].dependencies) as manylinux arm64 wheels for CPython 3.14, into layers/dependencies/python.
# The "shared" layer (layers/shared) is source and needs no build.
# Skips the build when the dependency list and this script are unchanged (FORCE=1 rebuilds).
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

fingerprint="$(printf '%s\n' "$PYTHON_VERSION" "$PLATFORM" "${REQUIREMENTS[@]}" | cat - "$0" | cksum | cut -d' ' -f1)"
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
echo "$fingerprint" > "$STAMP"
echo "build_layers: done ($(du -sh "$TARGET" | cut -f1))"
