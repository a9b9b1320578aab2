"""RichProgress: a live progress bar for training (the command line adds it on a terminal).

Shows iteration / max_iter, the running-average loss (the mean objective of the last
`window` iterations, as Lightning's bar), the learning rate, the last validation metric, iterations
per second and the time left. After every validation (each ValidationPerformance break, or
any break with `register(listener)` and `last_statistics`) its statistics, whatever their
names (`accuracy`, `test-accuracy`, `loss-square-loss`...), are printed above the bar as a
table; layer statistics named `<layer>-<statistic>` recorded by other breaks too. Schedule it
every iteration and after the other coffee breaks: `add_coffee_break(solver, RichProgress(),
every_n_iter=1)`. It draws on `Console(stderr=True)` unless given a console and leaves
stdout alone, unless `take_stdout=True` (what `mocha run` gives it while the bar is shown on
a terminal): then the plain training log of the other breaks (those declaring
`plain_log = True` with a `stream`: TrainingSummary, ValidationPerformance) is muted while the
bar runs, and anything else printed on stdout (a plugin's own output) appears above the bar.
rich is imported when the bar starts, not when the registry loads this plugin.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from typing import TYPE_CHECKING, Any

from mocha.core.coffee import CoffeeBreak
from mocha.core.hookspecs import hookimpl

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, ProgressColumn


@functools.cache
def speed_column() -> type[ProgressColumn]:
    """The rich column showing a task's iterations per second (a class made on first use)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class SpeedColumn(ProgressColumn):
        """Iterations per second of a task."""

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None:
                return Text("-- it/s", style="cyan")
            return Text(f"{speed:.0f} it/s" if speed >= 100 else f"{speed:.2g} it/s", style="cyan")

    return SpeedColumn


def headline_metric(stats: dict[str, float]) -> tuple[str, float] | None:
    """The statistic the bar shows of a validation: the first accuracy, else error, else the
    first statistic."""
    for suffix in ("accuracy", "error"):
        for name, value in stats.items():
            if name.endswith(suffix):
                return name, value
    return next(iter(stats.items()), None)


def format_statistic(name: str, value: float) -> str:
    """`91.23%` for accuracies and errors, else the value with 4 significant digits."""
    if name.endswith(("accuracy", "error")):
        return f"{100 * value:.2f}%"
    return f"{value:.4g}"


class RichProgress(CoffeeBreak):
    """A rich progress bar on stderr, with validation tables printed above it."""

    def __init__(
        self,
        console: Console | None = None,
        description: str = "train",
        take_stdout: bool = False,
        window: int = 20,
    ) -> None:
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"RichProgress: window must be an int >= 1, got {window!r}")
        self.console = console
        self.description = description
        self.take_stdout = take_stdout
        self.window = window
        self._muted: list[tuple[Any, Any]] = []
        self.progress: Progress | None = None
        self.task: Any = None
        self._shown: set[tuple[str, int]] = set()
        self._recent: deque[float] = deque(maxlen=window)
        self._listening: list[tuple[Any, Any]] = []

    def init(self, lounge: Any, solver: Any, net: Any) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        max_iter = solver.params["max_iter"]
        total = None if max_iter == math.inf else int(max_iter)
        self.progress = Progress(
            TextColumn("[bold blue]{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("loss [bold]{task.fields[loss]}"),
            TextColumn("lr {task.fields[lr]}"),
            TextColumn("{task.fields[val]}"),
            speed_column()(),
            TimeRemainingColumn(),
            console=self.console or Console(stderr=True),
            transient=False,
            # `> log.txt` keeps the log lines, unless the bar takes stdout over
            redirect_stdout=self.take_stdout,
            redirect_stderr=False,
        )
        if self.take_stdout:
            for scheduled in lounge.coffee_breaks:
                coffee = scheduled.coffee
                if getattr(coffee, "plain_log", False) and hasattr(coffee, "stream"):
                    self._muted.append((coffee, coffee.stream))
                    coffee.stream = _Discard()
        for scheduled in lounge.coffee_breaks:  # validations report to the bar
            coffee = scheduled.coffee
            if hasattr(coffee, "last_statistics") and callable(getattr(coffee, "register", None)):
                listener = functools.partial(self._on_validation, coffee)
                coffee.register(listener)
                self._listening.append((coffee, listener))
        self._recent.clear()
        self.task = self.progress.add_task(
            self.description,
            total=total,
            completed=lounge.curr_iter,
            loss="-",
            lr="-",
            val="",
        )
        self.progress.start()

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        if self.progress is None:
            return
        lr = state.internal.get("learning_rate")
        if math.isfinite(state.obj_val):
            self._recent.append(float(state.obj_val))
        loss = sum(self._recent) / len(self._recent) if self._recent else state.obj_val
        self.progress.update(
            self.task,
            completed=state.iter,
            loss=f"{loss:.5f}",
            lr="-" if lr is None else f"{float(lr):.3g}",
        )
        self._print_validation(lounge, state)

    def _on_validation(self, coffee: Any, lounge: Any, net: Any, state: Any) -> None:
        """A validation break's listener: its statistics, in a table above the bar."""
        self._print_table(lounge.curr_iter, dict(getattr(coffee, "last_statistics", None) or {}))

    def _print_validation(self, lounge: Any, state: Any) -> None:
        """Layer statistics (`<layer>-<statistic>`) other breaks recorded at this iteration."""
        it = lounge.curr_iter
        stats = {}
        for name, series in sorted(lounge.statistics.items()):
            if "-" not in name or name in state.losses or it not in series:
                continue
            stats[name] = series[it]
        self._print_table(it, stats)

    def _print_table(self, it: int, stats: dict[str, float]) -> None:
        """Print the statistics not yet shown at iteration `it`; the bar's `val` field shows
        the headline one (see `headline_metric`)."""
        rows = []
        fresh = {k: v for k, v in stats.items() if (k, it) not in self._shown}
        for name, value in fresh.items():
            self._shown.add((name, it))
            pct = format_statistic(name, value) if name.endswith(("accuracy", "error")) else ""
            rows.append((name, f"{value:.6g}", pct))
        if rows and self.progress is not None:
            from rich.table import Table

            table = Table(title=f"Validation after {it} iterations", title_justify="left")
            table.add_column("statistic")
            table.add_column("value", justify="right")
            table.add_column("", justify="right")
            for row in rows:
                table.add_row(*row)
            self.progress.console.print(table)
            name, value = headline_metric(fresh) or ("", 0.0)
            self.progress.update(self.task, val=f"val {name} {format_statistic(name, value)}")

    def destroy(self, lounge: Any, solver: Any, net: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        for coffee, stream in self._muted:
            coffee.stream = stream
        self._muted.clear()
        for coffee, listener in self._listening:  # a second solve() registers again
            listeners = getattr(coffee, "listeners", None)
            if isinstance(listeners, list) and listener in listeners:
                listeners.remove(listener)
        self._listening.clear()


class _Discard:
    """A text stream that drops what is written to it."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


@hookimpl
def mocha_register_coffee(register):
    register(RichProgress)
