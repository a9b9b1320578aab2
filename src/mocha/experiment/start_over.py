"""`StartWatch`: which iteration a run started at, and from which snapshot it resumed."""

from __future__ import annotations

from typing import Any

from mocha.core.coffee import CoffeeBreak


class StartWatch(CoffeeBreak):
    """Records, when the lounge is set up (after `load_from` was loaded), the iteration the
    solve starts at and the snapshot it resumed from (None when it starts at 0)."""

    def __init__(self) -> None:
        self.start_iteration = 0
        self.resumed_from: str | None = None

    def init(self, lounge: Any, solver: Any, net: Any) -> None:
        self.start_iteration = int(solver.state.iter)
        self.resumed_from = solver.resumed_from if self.start_iteration else None

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        pass
