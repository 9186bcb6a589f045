"""The `command` action: an argv list run without a shell, output kept in the audit trail.

The program runs in a process group of its own, its input empty: a Ctrl-C at the terminal
reaches migrator alone, which lets the program finish before it stops the run (a second
Ctrl-C ends the program too). Its output is read as UTF-8, bytes that are not replaced.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from migrator import StepContext, StepError

KEEP = 4000  # characters of stdout and stderr kept in the audit trail


def _as_mapping(value: Any) -> Any:
    return {"argv": value} if isinstance(value, list) else value


class CommandSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    argv: list[str] = Field(..., min_length=1, description="the program and its arguments")
    cwd: str | None = Field(None, description="working folder, relative to the plan file")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")


CommandConfig = Annotated[CommandSpec, BeforeValidator(_as_mapping)]


def describe(step: Any) -> str:
    return "run: " + shlex.join(step.command.argv)


def run(ctx: StepContext, step: Any) -> Any:
    import os

    spec = step.command
    argv = [ctx.interpolate(a) for a in spec.argv]
    cwd = None
    if spec.cwd:
        cwd = Path(spec.cwd)
        if not cwd.is_absolute() and ctx.plan_file:
            cwd = Path(ctx.plan_file).resolve().parent / cwd
    env = {**os.environ, **{k: ctx.interpolate(v) for k, v in spec.env.items()}}
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            encoding="utf-8",
            errors="replace",
            process_group=0,
            timeout=step.timeout,
            check=False,
        )
    except FileNotFoundError:
        raise RuntimeError(f"no such program: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{argv[0]} ran longer than {step.timeout:g}s and was stopped") from None
    memo = {
        "exit_code": done.returncode,
        # the last KEEP characters, masked before they are cut and without the end of a
        # secret at the cut: a secret across the cut would otherwise leave a part
        "stdout": ctx.shorten(done.stdout, KEEP + 3, keep="tail", marker="..."),
        "stderr": ctx.shorten(done.stderr, KEEP + 3, keep="tail", marker="..."),
        "seconds": round(time.monotonic() - started, 3),
    }
    if done.returncode != 0:
        said = ctx.mask(done.stderr).strip() or ctx.mask(done.stdout).strip()
        last = said.splitlines()[-1:] or [""]
        raise StepError(f"{argv[0]} exited with {done.returncode}: {last[0]}", memo=memo)
    return memo
