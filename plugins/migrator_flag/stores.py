"""The two built-in flag stores: the `migrator.flags` table, and a JSON or YAML file."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from migrator import StepContext
from migrator.plugin import MISSING, delete_flag, read_flag, write_flag


class TableStore:
    """Table `migrator.flags`: written in the step's own transaction (exactly once)."""

    def get(self, ctx: StepContext, name: str) -> Any:
        return read_flag(ctx.connection, name, MISSING)

    def set(self, ctx: StepContext, name: str, value: Any) -> None:
        write_flag(ctx.connection, name, value, ctx.operator)

    def delete(self, ctx: StepContext, name: str) -> None:
        delete_flag(ctx.connection, name)


class FileStore:
    """A mapping of flag names to values in a .json, .yaml or .yml file.

    Reading never writes: no lock file, no folder made, so a flag reads on a read-only
    mount and during a dry run. Every write replaces the file atomically (a temporary
    file in the same folder, flushed to disk, then renamed over it) under an exclusive
    lock on a `.lock` file beside it, so a reader never sees half a file and two writers
    never lose each other's flags. A flag file that is a symlink is followed: the write
    replaces the symlink's target (the temporary file made in the target's folder), the
    symlink stays, and the target keeps its mode and, where the process may give it,
    its owner.
    """

    def __init__(self, path: Path) -> None:
        if path.suffix not in (".json", ".yaml", ".yml"):
            raise ValueError(f"flag file {path}: use a .json, .yaml or .yml file")
        self.path = path

    def _target(self) -> Path:
        """The file a write replaces: the flag file, or the end of its chain of symlinks."""
        return Path(os.path.realpath(self.path))

    @contextmanager
    def _locked(self) -> Iterator[Path]:
        """An exclusive lock for writing; yields the file to replace."""
        target = self._target()
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.with_name(target.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield target

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        if self.path.suffix == ".json":
            data = json.loads(text) if text.strip() else {}
        else:
            import yaml

            data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ValueError(f"flag file {self.path} does not hold a mapping of flags")
        return data

    def _write(self, target: Path, flags: dict[str, Any]) -> None:
        """The flags in the order the file had them (new ones last), with its mode and owner."""
        if self.path.suffix == ".json":
            text = json.dumps(flags, indent=2) + "\n"
        else:
            import yaml

            text = yaml.safe_dump(flags, sort_keys=False)
        try:
            before: os.stat_result | None = target.stat()
        except FileNotFoundError:
            before = None
        # Made as open() makes a file (0666 less the umask), never mkstemp's 0600; then
        # given the mode and owner the file has: the application reading the flags,
        # perhaps as another user, keeps the access it had.
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                if before is not None:
                    _give(handle.fileno(), before)  # before the mode: a chown may clear bits
                    os.fchmod(handle.fileno(), stat.S_IMODE(before.st_mode))
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, ctx: StepContext, name: str) -> Any:
        # No lock: a write renames a whole file into place, so a read sees one or the other.
        return self._read().get(name, MISSING)

    def set(self, ctx: StepContext, name: str, value: Any) -> None:
        with self._locked() as target:
            flags = self._read()
            flags[name] = value
            self._write(target, flags)

    def delete(self, ctx: StepContext, name: str) -> None:
        with self._locked() as target:
            flags = self._read()
            if name in flags:
                del flags[name]
                self._write(target, flags)


def _give(fd: int, before: os.stat_result) -> None:
    """The new file gets the old one's owner and group, as far as this process may."""
    if (before.st_uid, before.st_gid) == (os.geteuid(), os.getegid()):
        return
    try:
        os.fchown(fd, before.st_uid, before.st_gid)
    except PermissionError:  # not root: keep at least the group, if we are in it
        with contextlib.suppress(PermissionError):
            os.fchown(fd, -1, before.st_gid)


def store_for(location: str, plan_file: str | None) -> TableStore | FileStore | None:
    if location == "table":
        return TableStore()
    if location.startswith("file:"):
        path = Path(location[len("file:") :]).expanduser()
        if not path.is_absolute() and plan_file:
            path = Path(plan_file).resolve().parent / path
        return FileStore(path)
    return None
