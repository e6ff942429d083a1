"""The Lambda layers are built from what is checked in, the same way every time (infra/build_layers.sh).

- The dependency layer installs exactly layers/dependencies/requirements.lock (pins with hashes), and the
  lock holds exactly what pyproject.toml's [project].dependencies need on the Lambda runtime: read from
  the two files (and the virtualenv's metadata), without the network.
- Building a layer twice gives the same files, byte for byte: what the CDK asset hash covers (the
  relative path and content of every file, whatever their mtimes).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "infra" / "build_layers.sh"
LOCK = REPO_ROOT / "layers" / "dependencies" / "requirements.lock"
PYPROJECT = REPO_ROOT / "pyproject.toml"
BASH = shutil.which("bash") or "/bin/bash"
SHARED_SOURCE = REPO_ROOT / "layers" / "shared" / "python"
# What uv writes as the reason for an entry pyproject.toml asks for itself.
FROM_PYPROJECT = "(pyproject.toml)"
# Markers as the Lambda runtime evaluates them: CPython 3.14 on arm64 Linux.
LAMBDA_ENVIRONMENT = {
    "implementation_name": "cpython",
    "os_name": "posix",
    "platform_machine": "aarch64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": "3.14.0",
    "python_version": "3.14",
    "sys_platform": "linux",
}


def runtime_requirements(pyproject: str) -> dict[str, Requirement]:
    requirements = [Requirement(text) for text in tomllib.loads(pyproject)["project"]["dependencies"]]
    return {canonicalize_name(r.name): r for r in requirements}


def locked(lock: str) -> dict[str, tuple[Version, set[str], int]]:
    """Each entry of the lock: its pinned version, what needs it (uv's `# via` line) and its hash count."""
    entries: dict[str, tuple[Version, set[str], int]] = {}
    name = ""
    for line in lock.splitlines():
        if pin := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", line):
            name = canonicalize_name(pin.group(1))
            entries[name] = (Version(pin.group(2)), set(), 0)
        elif name and re.match(r"^\s+--hash=sha256:[0-9a-f]{64}", line):
            version, via, hashes = entries[name]
            entries[name] = (version, via, hashes + 1)
        elif name and (reason := re.match(r"^\s+# via (.+)$", line)):
            entries[name][1].update(
                FROM_PYPROJECT if FROM_PYPROJECT in part else canonicalize_name(part.strip())
                for part in reason.group(1).split(",")
            )
        elif line.strip() and not line.lstrip().startswith("#"):
            raise AssertionError(f"unexpected line in the lock: {line!r}")
    return entries


def disagreements(pyproject: str, lock: str) -> list[str]:
    """Where the runtime dependencies and the lock disagree, as sentences (none when they agree)."""
    wanted = runtime_requirements(pyproject)
    entries = locked(lock)
    problems = []
    for name, requirement in wanted.items():
        if name not in entries:
            problems.append(f"{requirement} is missing from the lock")
        elif not requirement.specifier.contains(entries[name][0], prereleases=True):
            problems.append(f"the lock pins {name}=={entries[name][0]}, outside {requirement}")
        elif FROM_PYPROJECT not in entries[name][1]:
            problems.append(f"the lock does not record {name} as a dependency of pyproject.toml")
    for name, (version, via, hashes) in entries.items():
        if FROM_PYPROJECT in via and name not in wanted:
            problems.append(f"the lock pins {name}=={version} for pyproject.toml, which no longer asks for it")
        if hashes == 0:
            problems.append(f"the lock has no hash for {name}")
    # Every other entry is needed by an entry that is itself needed, down from pyproject.toml.
    needed = {name for name in wanted if name in entries}
    while grown := {n for n, (_, via, _) in entries.items() if n not in needed and via & needed}:
        needed |= grown
    problems += [f"the lock pins {n}=={entries[n][0]}, which no dependency needs" for n in entries.keys() - needed]
    return problems


def test_the_lock_holds_exactly_the_runtime_dependencies() -> None:
    assert disagreements(PYPROJECT.read_text(encoding="utf-8"), LOCK.read_text(encoding="utf-8")) == []


def test_a_dependency_missing_from_the_lock_or_one_nothing_needs_is_reported() -> None:
    pyproject = PYPROJECT.read_text(encoding="utf-8")
    lock = LOCK.read_text(encoding="utf-8")
    added = pyproject.replace("dependencies = [\n", 'dependencies = [\n    "requests>=2",\n', 1)
    assert disagreements(added, lock) == ["requests>=2 is missing from the lock"]
    dropped = re.sub(r'\n\s*"boto3[^"]*",', "", pyproject, count=1)
    problems = disagreements(dropped, lock)
    assert any("boto3==" in p and "no longer asks for it" in p for p in problems), problems
    narrowed = re.sub(r'"pydantic>=[^"]*"', '"pydantic>=99"', pyproject, count=1)
    assert any(p.startswith("the lock pins pydantic==") for p in disagreements(narrowed, lock))
    stray = lock + "colorama==0.4.6 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via nothing-here\n"
    assert disagreements(pyproject, stray) == ["the lock pins colorama==0.4.6, which no dependency needs"]


def test_the_lock_holds_what_each_locked_release_requires_on_lambda() -> None:
    # The `# via` lines are uv's word; the releases' own metadata says the same, where the virtualenv
    # has the locked release: its requirements, for CPython 3.14 on arm64, with the extras asked for.
    entries = locked(LOCK.read_text(encoding="utf-8"))
    drifted = [n for n, (v, _, _) in entries.items() if _installed_version(n) != v]
    if drifted:
        pytest.skip(f"the virtualenv has other releases than the lock of {drifted}: `make install` or lock again")
    pending = list(runtime_requirements(PYPROJECT.read_text(encoding="utf-8")).values())
    seen: set[tuple[str, str]] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        for extra in {"", *requirement.extras} - {e for n, e in seen if n == name}:
            seen.add((name, extra))
            for text in metadata.requires(name) or []:
                nested = Requirement(text)
                if nested.marker is None or nested.marker.evaluate({**LAMBDA_ENVIRONMENT, "extra": extra}):
                    pending.append(nested)
    assert {name for name, _ in seen} == set(entries)


def _installed_version(name: str) -> Version | None:
    try:
        return Version(metadata.version(name))
    except metadata.PackageNotFoundError:
        return None


def test_the_dependency_layer_is_installed_from_the_lock_with_hashes() -> None:
    script = SCRIPT.read_text(encoding="utf-8")
    assert f'LOCK="{LOCK.relative_to(REPO_ROOT)}"' in script
    assert "--require-hashes" in script and '-r "$LOCK"' in script
    # The up-to-date check covers the lock, so a new pin rebuilds the layer.
    assert re.search(r'fingerprint=.*\n.*cat - "\$LOCK"', script)


def file_hashes(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under root: what a CDK asset's fingerprint is made of."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def build(*arguments: str, **variables: str) -> None:
    """Run infra/build_layers.sh with these arguments and extra environment variables."""
    subprocess.run(
        [BASH, str(SCRIPT), *arguments],
        cwd=REPO_ROOT,
        env={**os.environ, **variables},
        check=True,
        capture_output=True,
        timeout=600,
    )


def test_building_the_shared_layer_twice_gives_the_same_files(tmp_path: Path) -> None:
    build("shared", SHARED_LAYER_BUILD=str(tmp_path / "first"))
    build("shared", SHARED_LAYER_BUILD=str(tmp_path / "second"))
    first = file_hashes(tmp_path / "first")
    assert first == file_hashes(tmp_path / "second")
    assert not list(tmp_path.glob("*.tmp.*"))
    # The layer's sources are the repository's, without caches; its bytecode, if any, the runtime's only.
    sources = {
        path: digest
        for path, digest in file_hashes(SHARED_SOURCE).items()
        if "__pycache__" not in path and not path.endswith(".pyc")
    }
    assert {p: d for p, d in first.items() if not p.endswith(".pyc")} == {f"python/{p}": d for p, d in sources.items()}
    bytecode = {p for p in first if p.endswith(".pyc")}
    assert all(re.fullmatch(r"python/(.+/)?__pycache__/[^/]+\.cpython-314\.pyc", p) for p in bytecode), bytecode
    assert len(bytecode) in (0, len(sources))


def test_the_bytecode_does_not_depend_on_the_build(tmp_path: Path) -> None:
    # Compiled as the build compiles (with this machine's Python: the runtime's may be missing here), in
    # two directories of different names (the source's path is compiled into the bytecode) and under two
    # string hash seeds (a set constant among the sources): the same bytes.
    outputs = []
    for name, seed in (("one", "1"), ("another-place", "2")):
        tree = tmp_path / name
        shutil.copytree(SHARED_SOURCE, tree, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (tree / "frozen.py").write_text('def f(x):\n    return x in {"alpha", "beta", "gamma", "delta"}\n')
        build("bytecode", str(tree), sys.executable, PYTHONHASHSEED=seed)
        outputs.append({p: d for p, d in file_hashes(tree).items() if p.endswith(".pyc")})
    assert outputs[0] and outputs[0] == outputs[1]
    # unchecked-hash: the source's hash, not its mtime, and Python does not check it at import.
    pyc = next((tmp_path / "one" / "__pycache__").glob("frozen.*.pyc")).read_bytes()
    assert int.from_bytes(pyc[4:8], "little") == 0b01


@pytest.mark.skipif(
    os.environ.get("LAYER_BUILD_ONLINE") != "1",
    reason="downloads the locked arm64 wheels twice from the package index: LAYER_BUILD_ONLINE=1 to run it",
)
def test_building_the_dependency_layer_twice_gives_the_same_files(tmp_path: Path) -> None:
    build("dependencies", DEPENDENCIES_LAYER=str(tmp_path / "first"), FORCE="1")
    build("dependencies", DEPENDENCIES_LAYER=str(tmp_path / "second"), FORCE="1")
    first = file_hashes(tmp_path / "first")
    assert first == file_hashes(tmp_path / "second")
    installed = {
        canonicalize_name(m.group(1)): Version(m.group(2))
        for path in first
        if (m := re.fullmatch(r"python/([^/]+)-([^-/]+)\.dist-info/METADATA", path))
    }
    assert installed == {name: version for name, (version, _, _) in locked(LOCK.read_text(encoding="utf-8")).items()}


def test_the_stack_ships_the_shared_build_only_while_it_matches_the_sources(tmp_path: Path) -> None:
    from infra.stack import constants
    from infra.stack.functions import shared_layer_code

    source = tmp_path / "shared"
    (source / "python" / "pkg").mkdir(parents=True)
    (source / "python" / "pkg" / "mod.py").write_text("VALUE = 1\n")
    build = tmp_path / "shared-build"
    # No build: the sources
    assert shared_layer_code(build, source) == (source, constants.ASSET_EXCLUDES)
    # A build of these sources, with the runtime's bytecode: the build, its bytecode kept
    (build / "python" / "pkg" / "__pycache__").mkdir(parents=True)
    (build / "python" / "pkg" / "mod.py").write_text("VALUE = 1\n")
    (build / "python" / "pkg" / "__pycache__" / "mod.cpython-314.pyc").write_bytes(b"bytecode")
    assert shared_layer_code(build, source) == (build, constants.DEPENDENCY_LAYER_EXCLUDES)
    # The sources changed since the build: the sources again, never a stale build
    (source / "python" / "pkg" / "mod.py").write_text("VALUE = 2\n")
    assert shared_layer_code(build, source) == (source, constants.ASSET_EXCLUDES)
