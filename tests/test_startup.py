"""Start-up: what `quorum` does before the dashboard's first frame, and what it leaves for after.

Issue 15's target is a ratio of wall-clock times (benchmarks/bench_dashboard.py, `first`); these
tests pin the changes that got there by what happens and in which order, never by how long it took.
"""

from __future__ import annotations

import gc
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui.cli import main as cli_main
from tui.dashboard.app import QuorumApp


def _collections_while_importing_the_dashboard(before: str = "") -> int:
    """How many times the collector runs while a fresh interpreter imports the command and the
    dashboard (after running `before`)."""
    script = (
        f"import gc\n{before}\n"
        "starts = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start' and starts.append(info['generation']))\n"
        "import tui.cli.main, tui.dashboard.app\n"
        "print(len(starts))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return int(done.stdout.strip())


def test_a_commands_start_up_runs_the_collector_a_tenth_as_often_as_at_its_default_pace() -> None:
    # Fresh interpreters: this test process's pace is whatever earlier tests left. The second
    # keeps the collector's default pace by making the command's own setting do nothing.
    paced = _collections_while_importing_the_dashboard()
    default = _collections_while_importing_the_dashboard("gc.set_threshold = lambda *pace: None")
    assert paced * 10 < default


class _App:
    """Stands in for `QuorumApp` in `_run_dashboard`: notes what the collector holds when it runs."""

    tune_gc = staticmethod(QuorumApp.tune_gc)
    return_code = 0

    def __init__(self) -> None:
        self.frozen_at_run: int | None = None

    def run(self) -> None:
        self.frozen_at_run = gc.get_freeze_count()


@pytest.fixture
def restore_collector() -> object:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)


def test_what_start_up_built_is_frozen_before_the_dashboard_runs(restore_collector: object) -> None:
    gc.unfreeze()  # earlier tests' dashboards froze theirs
    app = _App()
    assert cli_main._run_dashboard(app) == 0  # type: ignore[arg-type]
    assert app.frozen_at_run  # the first frame's collections do not scan the imports' objects


def test_the_dashboard_does_not_import_the_headless_commands_it_never_runs() -> None:
    # What `python -m tui` imports before Textual starts, in a fresh interpreter; `quorum doctor`
    # and `quorum serve` import theirs when they run (tests/test_doctor.py, tests/test_serve.py).
    headless = ("tui.cli.doctor", "tui.cli.serve", "tui.serve.guard")
    script = (
        "import sys, tui.cli.main, tui.dashboard.app\n"
        f"print([name for name in {headless!r} if name in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_every_engine_model_built_on_first_use_is_built_ahead_by_the_warm_up() -> None:
    """A new engine model with `defer_build` must join `DEFERRED`, or the first run builds it."""
    import pkgutil

    from pydantic import BaseModel

    import tui.engine
    from tui.engine.validators import DEFERRED

    deferred = set()
    for module_info in pkgutil.iter_modules(tui.engine.__path__):
        module = importlib.import_module(f"tui.engine.{module_info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseModel)
                and value.__module__ == module.__name__
                and value.model_config.get("defer_build")
                and not value.__name__.startswith("_")
            ):
                deferred.add(value)
    assert deferred and deferred == set(DEFERRED)


def test_the_dashboard_builds_the_engines_validators_after_its_first_frame_not_at_the_first_run() -> None:
    # A fresh interpreter: in this one, earlier tests have built them all already.
    script = """
import asyncio, threading
from tests.dashboard import make_app
from tui.engine.validators import DEFERRED

def unbuilt():
    return sorted(model.__name__ for model in DEFERRED if not model.__pydantic_complete__)

async def main():
    app, _ = make_app(["alpha", "beta"])
    before = unbuilt()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        for thread in threading.enumerate():
            if thread.name == "quorum validators":
                thread.join()
        print(before, unbuilt())

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    before, after = done.stdout.strip().splitlines()[-1].split("] [")
    assert "RunResult" in before and "RunRequest" in before  # deferred: not built at start-up
    assert after == "]"  # all built by the warm-up, before any question


async def test_the_flush_tick_collects_the_young_generation_between_frames() -> None:
    """Left to its threshold, a young-generation collection came in the middle of a frame, 10-30
    ms at once; the 4 Hz tick collects it instead, a quarter second's objects at a time."""
    from tests.dashboard import make_app

    app, _ = make_app(["alpha"])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        collected: list[int] = []

        def note(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                collected.append(info["generation"])

        kept = [{"n": n} for n in range(5_000)]  # young objects, still alive at the tick
        gc.callbacks.append(note)
        try:
            app.flush_now()
        finally:
            gc.callbacks.remove(note)
        assert 0 in collected
        assert len(kept) == 5_000


def test_the_command_does_not_search_the_environment_for_pydantic_plugins(tmp_path: Path) -> None:
    # A fresh interpreter: pydantic searches once per process, as its first model is made.
    script = (
        "import os, tui.cli.main\n"
        "from tui.config.loading import load_settings\n"
        "from pydantic.plugin import _loader\n"
        "load_settings(project=False)\n"
        "print(os.environ['PYDANTIC_DISABLE_PLUGINS'], _loader._plugins)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env["QUORUM_HOME"] = str(tmp_path)  # (no user's config read)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True, env=env
    )
    assert done.stdout.split() == ["__all__", "None"]  # never searched
    # A user's own choice stands.
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env | {"PYDANTIC_DISABLE_PLUGINS": "some_plugin"},
    )
    assert done.stdout.split()[0] == "some_plugin"


@pytest.mark.parametrize("floor", ["", "--pydantic", "--settings"])
def test_each_start_up_floor_of_the_benchmark_draws_its_frame(floor: str, tmp_path: Path) -> None:
    # The benchmark's `first` case times these beside the dashboard: a floor that no longer starts
    # (a moved module, a renamed function) would fail only there, unseen by the suite.
    # Imported by name (mypy reads the benchmarks as scripts), and never skipped: a floor that
    # cannot be imported fails here.
    bench = importlib.import_module("benchmarks.bench_dashboard")
    command = (*bench.BARE_COMMAND, floor) if floor else bench.BARE_COMMAND
    assert bench.first_frame_in_terminal(command, str(tmp_path), timeout=60) > 0
