"""The flag file store: reading never writes (read-only folders, dry runs), writes go
through a symlink to its target, which keeps its mode and owner."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.plugin import MISSING
from migrator_flag.stores import FileStore

NOBODY = 65534


def listing(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under `folder` with its size, mtime (ns) and inode: a write changes one."""
    return {
        str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns, p.lstat().st_ino)
        for p in sorted(folder.rglob("*"))
    } | {".": (0, folder.stat().st_mtime_ns, folder.stat().st_ino)}


@pytest.fixture
def readonly(tmp_path: Path) -> Iterator[Path]:
    """A folder holding flags.json, read-only (mode 0555, the file 0444), that a
    process of another user can reach (pytest's tmp_path is 0700)."""
    top = Path(tempfile.mkdtemp(prefix="flags-ro-"))
    top.chmod(0o755)
    folder = top / "app"
    folder.mkdir()
    (folder / "flags.json").write_text('{"READ_UNIFIED": true}')
    (folder / "flags.json").chmod(0o444)
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
    top.rmdir()


def read_as(uid: int, store: FileStore, name: str) -> str:
    """`store.get(name)` in a child process that runs as `uid` (fork: no interpreter to
    find on a path that user may not read); its value as JSON, or the error's name."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read)
        try:
            os.setgid(uid)
            os.setuid(uid)
            value = store.get(None, name)  # type: ignore[arg-type]
            answer = "<missing>" if value is MISSING else json.dumps(value)
        except BaseException as exc:
            answer = f"{type(exc).__name__}: {exc}"
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    return answer


def test_a_flag_reads_from_a_read_only_folder(readonly: Path) -> None:
    store = FileStore(readonly / "flags.json")
    before = listing(readonly)
    if os.geteuid() == 0:
        # root writes through any mode: read as a user for whom the folder is read-only,
        # and check first that that user really cannot write there
        assert "PermissionError" in write_as(NOBODY, readonly / "probe.lock")
        assert read_as(NOBODY, store, "READ_UNIFIED") == "true"
        assert read_as(NOBODY, FileStore(readonly / "missing.json"), "X") == "<missing>"
    assert store.get(None, "READ_UNIFIED") is True  # type: ignore[arg-type]
    assert store.get(None, "OTHER") is MISSING  # type: ignore[arg-type]
    assert listing(readonly) == before  # no lock file, nothing touched


def write_as(uid: int, path: Path) -> str:
    pid = os.fork()
    if pid == 0:
        try:
            os.setuid(uid)
            path.write_text("x")
            os._exit(0)
        except PermissionError:
            os._exit(13)
    _, status = os.waitpid(pid, 0)
    return "PermissionError" if os.waitstatus_to_exitcode(status) == 13 else "written"


def test_reading_a_flag_in_a_missing_folder_makes_no_folder(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "not" / "yet" / "flags.yaml")
    assert store.get(None, "X") is MISSING  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_a_write_takes_the_lock_beside_the_file_and_replaces_it(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "app" / "flags.json")
    store.set(None, "A", 1)  # type: ignore[arg-type]
    assert sorted(p.name for p in (tmp_path / "app").iterdir()) == ["flags.json", "flags.json.lock"]
    assert json.loads((tmp_path / "app" / "flags.json").read_text()) == {"A": 1}


@pytest.fixture
def linked(tmp_path: Path) -> tuple[Path, Path]:
    """app/flags.json -> ../shared/real.json, the target owned by another user, mode 0640."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "app").mkdir()
    target = tmp_path / "shared" / "real.json"
    target.write_text('{"THEME": "dark"}')
    target.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(target, 1234, 4321)
    link = tmp_path / "app" / "flags.json"
    link.symlink_to(Path("..") / "shared" / "real.json")
    return link, target


def test_a_symlinked_flag_file_is_written_through_to_its_target(linked: tuple[Path, Path]) -> None:
    link, target = linked
    owner = (target.stat().st_uid, target.stat().st_gid)
    store = FileStore(link)
    store.set(None, "READ_UNIFIED", True)  # type: ignore[arg-type]
    assert link.is_symlink() and os.readlink(link) == "../shared/real.json"
    assert json.loads(target.read_text()) == {"THEME": "dark", "READ_UNIFIED": True}
    assert target.stat().st_mode & 0o7777 == 0o640
    assert (target.stat().st_uid, target.stat().st_gid) == owner
    store.delete(None, "READ_UNIFIED")  # type: ignore[arg-type]
    assert link.is_symlink() and json.loads(link.read_text()) == {"THEME": "dark"}
    assert (target.stat().st_uid, target.stat().st_gid) == owner
    # the lock and the temporary files live beside the target; nothing is left beside the link
    assert [p.name for p in link.parent.iterdir()] == ["flags.json"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["real.json", "real.json.lock"]


def test_a_chain_of_symlinks_is_followed_to_its_end(tmp_path: Path) -> None:
    (tmp_path / "real.yaml").write_text("A: 1\n")
    (tmp_path / "middle.yaml").symlink_to("real.yaml")
    (tmp_path / "flags.yaml").symlink_to("middle.yaml")
    FileStore(tmp_path / "flags.yaml").set(None, "B", 2)  # type: ignore[arg-type]
    assert (tmp_path / "flags.yaml").is_symlink() and (tmp_path / "middle.yaml").is_symlink()
    assert (tmp_path / "real.yaml").read_text() == "A: 1\nB: 2\n"


def test_a_dangling_symlink_gets_its_target_made(tmp_path: Path) -> None:
    (tmp_path / "flags.json").symlink_to("data/real.json")
    store = FileStore(tmp_path / "flags.json")
    assert store.get(None, "A") is MISSING  # type: ignore[arg-type]
    assert not (tmp_path / "data").exists()  # a read made nothing
    store.set(None, "A", 1)  # type: ignore[arg-type]
    assert (tmp_path / "flags.json").is_symlink()
    assert json.loads((tmp_path / "data" / "real.json").read_text()) == {"A": 1}


def test_migrator_plan_reads_file_flags_without_writing(
    migrator: Any, write_plan: Any, tmp_path: Path
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "flags.json").write_text('{"READ_UNIFIED": true}')
    plan = write_plan(
        "plan: look\nkind: hotfix\n"
        "pre_checks:\n"
        '  - flag_is: {name: READ_UNIFIED, value: true, store: "file:app/flags.json"}\n'
        '  - flag_is: {name: NEW, value: 1, store: "file:elsewhere/flags.json"}\n'
        'steps:\n  - flag: {name: NEW, value: 1, store: "file:elsewhere/flags.json"}\n'
        'post_checks:\n  - flag_is: {name: NEW, value: 1, store: "file:elsewhere/flags.json"}\n'
    )
    app.chmod(0o555)
    try:
        before = listing(tmp_path)
        result = migrator("plan", plan)
        assert listing(tmp_path) == before, result.out  # no lock, no folder, no file
    finally:
        app.chmod(0o755)
    assert "flag READ_UNIFIED is true in file:app/flags.json" in result.out
    assert "passes today" in result.out, result.out  # the flags were read
