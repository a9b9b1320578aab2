"""ValidationPerformance(validation_net): evaluate one epoch and report (semantics §7.2)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mocha.core.coffee import CoffeeBreak
from mocha.core.hookspecs import hookimpl
from mocha.core.parallel import parallel_of

logger = logging.getLogger("mocha")
# the training log: printed to the stream, and logged here for programs that collect it
# (`mocha run` leaves it out of its own log on stderr, where it would repeat the lines)
training_log = logging.getLogger("mocha.training")

Listener = Callable[[Any, Any, Any], None]


class ValidationPerformance(CoffeeBreak):
    """`add_coffee_break(solver, ValidationPerformance(test_net), every_n_iter=1000)`.

    `init` initializes the validation net (only its own, non-shared, non-loaded parameters).
    `enjoy`: in the test phase (`with validation_net.evaluating():`, so DropoutLayer and
    RandomMaskLayer draw no masks, however the net was built) reset the statistics of its
    has_stats layers and `forward_epoch` (forwards until its data layer completes an
    epoch); log a report headed `## Performance on Validation Set after <iter> iterations`;
    record every statistic (`"<accuracy layer>-accuracy"`, or the layer's name alone when it
    ends in "accuracy"; `"<loss>-square-loss"`, ...) in the lounge at the current iteration;
    then call each listener `f(lounge, train_net, state)` added with `register(f)` (e.g.
    `LRPolicy.DecayOnValidation`). `destroy` does nothing: the user owns the validation net.
    `last_statistics` holds the latest values; the report is also printed to `stream`
    (stdout by default), like TrainingSummary's lines.

    Data parallel: it runs on every rank (`all_ranks`), each evaluating its share of every
    batch; the statistics are combined over the ranks before the report, which rank 0 prints.
    """

    plain_log = True  # prints the training log on `stream` (RichProgress may mute it)

    all_ranks = True  # the evaluation is collective (mocha.core.parallel)

    def __init__(self, validation_net: Any, stream: Any = None) -> None:
        self.validation_net = validation_net
        self.stream = stream
        self.listeners: list[Listener] = []
        self.last_statistics: dict[str, float] = {}
        self.last_report = ""

    def register(self, listener: Listener) -> Listener:
        """Call `listener(lounge, train_net, state)` after every validation; returns it."""
        if not callable(listener):
            raise TypeError(f"ValidationPerformance.register: {listener!r} is not callable")
        self.listeners.append(listener)
        return listener

    def resume_nets(self) -> list[Any]:
        """Nets whose data cursors a snapshot saves along with the training net's."""
        return [self.validation_net]

    def init(self, lounge: Any, solver: Any, net: Any) -> None:
        if self.validation_net is net:
            logger.warning(
                "ValidationPerformance: the validation net is the training net; "
                "this disturbs the training epochs (Mocha issue #133)"
            )
        self.validation_net.init()

    def enjoy(self, lounge: Any, solver: Any, net: Any, state: Any) -> None:
        vnet = self.validation_net
        with vnet.evaluating():
            vnet.reset_statistics()
            vnet.forward_epoch()
            parallel = parallel_of(vnet.backend)
            parallel.reduce_statistics(vnet)
        dash = "-" * 58
        lines = [f"## Performance on Validation Set after {state.iter} iterations", dash]
        stats: dict[str, float] = {}
        for layer_state in vnet.states:
            if not layer_state.layer.has_stats:
                continue
            values = layer_state.dump_statistics()
            stats.update(values)
            summary = layer_state.statistics_summary() or ", ".join(
                f"{k} = {v:.8f}" for k, v in values.items()
            )
            lines.append(f"  {summary}")
        lines.append(dash)
        for name, value in stats.items():
            lounge.update_statistics(name, value)
        self.last_statistics = stats
        self.last_report = "\n".join(lines)
        if parallel.is_root:
            for line in lines:
                training_log.info(line)
            print(self.last_report, file=self.stream, flush=True)
        for listener in self.listeners:
            listener(lounge, net, state)


@hookimpl
def mocha_register_coffee(register):
    register(ValidationPerformance)
