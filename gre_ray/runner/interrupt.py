"""Stopping a run on SIGINT or SIGTERM: keep finished work, never mark a stage done, say how to resume.

Ctrl-C (SIGINT) and ``kill``/``ray job stop`` (SIGTERM) take one path. Inside
:func:`handlers` (the CLI wraps every command in it) SIGINT raises ``KeyboardInterrupt``
where the main thread is, and SIGTERM is turned into SIGINT, so whatever handles SIGINT at
that moment handles both: Python's default anywhere, Ray Tune's own handler while a grid
runs (Tune then stops its trials, saves the experiment state one last time and returns, see
``ray.tune.tune._setup_signal_catching``; the grid wiring turns that return into an
:class:`Interrupted`). ``ray.init`` installs a SIGTERM handler of its own that exits the
process; :func:`take_sigterm` takes SIGTERM back after it.

An interrupted stage is never recorded as done: the runner removes its temporary folder
and raises :class:`Interrupted` naming the stage and what was kept (stages finished earlier
in the run, trials in the results store, cached embeddings), and the CLI prints that in one
line with the command that resumes, and exits 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import threading
from collections.abc import Iterator, Sequence

EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number, as shells report it

_received: list[int] = []
_active = False


class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM.

    Attributes:
        stage: the stage that was running ("" outside a stage).
        kept: what was kept, one short phrase each (``"3 of 8 trials in the results store X"``).
    """

    def __init__(self, kept: Sequence[str] = (), stage: str = "") -> None:
        super().__init__("; ".join(kept))
        self.kept = list(kept)
        self.stage = stage


def during(stage: str, exc: BaseException, kept_before: Sequence[str] = ()) -> Interrupted:
    """The :class:`Interrupted` of ``stage`` for the interrupt ``exc`` (a bare KeyboardInterrupt or
    an Interrupted raised inside the stage), with ``kept_before`` (the run's finished stages) first."""
    inner = exc.kept if isinstance(exc, Interrupted) else []
    return Interrupted([*kept_before, *inner], stage=getattr(exc, "stage", "") or stage)


def received() -> int | None:
    """The first signal received inside :func:`handlers`; None when none was (a KeyboardInterrupt
    raised some other way counts as SIGINT)."""
    return _received[0] if _received else None


def exit_status() -> int:
    """The exit status of an interrupted command: 128 + the signal (130 for SIGINT, 143 for SIGTERM)."""
    return EXIT_STATUS.get(received() or signal.SIGINT, 130)


def message(exc: BaseException, argv: Sequence[str]) -> str:
    """The one line an interrupted command prints: the signal, the stage not recorded as done,
    what was kept, and the command that resumes (``argv``: the command's arguments)."""
    name = signal.Signals(received() or signal.SIGINT).name
    stage = getattr(exc, "stage", "")
    where = f" during stage {stage}, which is not recorded as done" if stage else ""
    kept = getattr(exc, "kept", [])
    kept_text = f"; kept: {', '.join(kept)}" if kept else ""
    return f"gre-ray: interrupted by {name}{where}{kept_text}; to resume, run again: gre-ray {shlex.join(argv)}"


def _on_sigint(signum: int, frame: object) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def _on_sigterm(signum: int, frame: object) -> None:
    _received.append(signum)
    signal.raise_signal(signal.SIGINT)  # handled by the SIGINT handler in place now (Tune's while a grid runs)


def take_sigterm() -> None:
    """Handle SIGTERM as an interrupt again (``ray.init`` replaces the handler); a no-op outside
    :func:`handlers` or off the main thread."""
    if _active and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


@contextlib.contextmanager
def handlers() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM interrupt the main thread (see the module docstring);
    the previous handlers come back after it. A no-op off the main thread."""
    global _active
    if threading.current_thread() is not threading.main_thread() or _active:
        yield
        return
    previous = {s: signal.getsignal(s) for s in EXIT_STATUS}
    _received.clear()
    _active = True
    signal.signal(signal.SIGINT, _on_sigint)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        _active = False
        for signum, handler in previous.items():
            signal.signal(signum, handler)
