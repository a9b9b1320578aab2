"""RichProgress: a live progress bar for training (the command line adds it on a terminal).

Shows iteration / max_iter, the objective, the learning rate, iterations per second and the
time left; validation results reported by other coffee breaks at the same iteration (layer
statistics such as `test-accuracy`) are printed above the bar as a table. Schedule it
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


class RichProgress(CoffeeBreak):
    """A rich progress bar on stderr, with validation tables printed above it."""

    def __init__(
        self, console: Console | None = None, description: str = "train", take_stdout: bool = False
    ) -> None:
        self.console = console
        self.description = description
        self.take_stdout = take_stdout
        self._muted: list[tuple[Any, Any]] = []
        self.progress: Progress | None = None
        self.task: Any = None
        self._shown: set[tuple[str, int]] = set()

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
            TextColumn("obj [bold]{task.fields[obj]}"),
            TextColumn("lr {task.fields[lr]}"),
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
        self.task = self.progress.add_task(
            self.description,
            total=total,
            completed=lounge.curr_iter,
            obj="-",
            lr="-",
        )
        self.progress.start()

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        if self.progress is None:
            return
        lr = state.internal.get("learning_rate")
        self.progress.update(
            self.task,
            completed=state.iter,
            obj=f"{state.obj_val:.5f}",
            lr="-" if lr is None else f"{float(lr):.3g}",
        )
        self._print_validation(lounge, state)

    def _print_validation(self, lounge: Any, state: Any) -> None:
        """Layer statistics recorded at this iteration (named `<layer>-<statistic>`)."""
        it = lounge.curr_iter
        rows = []
        for name, series in sorted(lounge.statistics.items()):
            if "-" not in name or name in state.losses or it not in series:
                continue
            if (name, it) in self._shown:
                continue
            self._shown.add((name, it))
            value = series[it]
            pct = (
                f"{100 * value:.2f}%"
                if name in ("accuracy", "error") or name.endswith(("-accuracy", "-error"))
                else ""
            )
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

    def destroy(self, lounge: Any, solver: Any, net: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        for coffee, stream in self._muted:
            coffee.stream = stream
        self._muted.clear()


class _Discard:
    """A text stream that drops what is written to it."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


@hookimpl
def mocha_register_coffee(register):
    register(RichProgress)
