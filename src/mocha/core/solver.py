"""Solvers: `make_solver_parameters`, `Solver`, `solve(solver, net)`. Notes: docs/core.md."""

from __future__ import annotations

import difflib
import math
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from mocha.core.coffee import CoffeeLounge
from mocha.core.errors import SolverError
from mocha.core.loop_timing import LoopTiming, clock
from mocha.core.parallel import parallel_of
from mocha.core.policies import LRPolicy, MomPolicy, Policy
from mocha.core.resume import (
    RewindRequest,
    apply_resume_point,
    capture_resume_point,
    load_coffee_states,
    resume,
    rewind,
)

if TYPE_CHECKING:
    from mocha.core.net import Net


class SolverMethod:
    """Base class of solver methods (the update rule)."""

    name: ClassVar[str] = "abstract"
    required: ClassVar[tuple[str, ...]] = ()
    history_slots: ClassVar[int] = 1  # history arrays per parameter (the memory check counts)

    def defaults(self) -> dict[str, Any]:
        return {}

    def init_state(self, solver: Solver, net: Net) -> dict[str, Any]:
        return {"history": {}}

    def update(self, solver: Solver, net: Net, state: SolverState) -> None:
        raise NotImplementedError

    @staticmethod
    def history_of(
        solver: Solver, state: SolverState, layer_name: str, param: Any, key: str = "h"
    ) -> Any:
        """The per-parameter history array `key` of `state.internal["history"]` (saved in
        snapshots under "<layer>___<param>/<key>"), created as zeros on first use."""
        hist = state.internal["history"]
        name = f"{param_id(layer_name, param.name)}/{key}"
        arr = hist.get(name)
        if arr is None:
            arr = solver.net.backend.xp.zeros(param.blob.shape, dtype=param.blob.dtype)
            hist[name] = arr
        return arr

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


BASE_PARAMETERS: dict[str, Any] = {"max_iter": math.inf, "regu_coef": 0.0005, "load_from": ""}

# Spellings from Caffe and other frameworks: the parameter to use instead, and how (the value
# given is substituted for {v}).
PARAMETER_HINTS: dict[str, tuple[str, str]] = {
    "momentum": ("mom_policy", "mom_policy=MomPolicy.Fixed({v})"),
    "base_lr": ("lr_policy", "lr_policy=LRPolicy.Fixed({v})"),
    "lr": ("lr_policy", "lr_policy=LRPolicy.Fixed({v})"),
    "learning_rate": ("lr_policy", "lr_policy=LRPolicy.Fixed({v})"),
    "weight_decay": ("regu_coef", "regu_coef={v}"),
}
TOML_HINTS: dict[str, str] = {
    "momentum": "mom_policy = {v}",
    "base_lr": "lr_policy = {v}",
    "lr": "lr_policy = {v}",
    "learning_rate": "lr_policy = {v}",
    "weight_decay": "regu_coef = {v}",
}


def known_parameters(method: SolverMethod) -> tuple[str, ...]:
    """The solver parameters `method` reads: the base ones, its defaults and its required."""
    return tuple(dict.fromkeys((*BASE_PARAMETERS, *method.defaults(), *method.required)))


def unknown_parameter_message(
    method: SolverMethod, key: str, value: Any = None, toml: bool = False
) -> str:
    """Why `key` is refused for `method`, with the closest known parameter (did you mean)."""
    known = known_parameters(method)
    name = type(method).__name__
    hint = ""
    if key in PARAMETER_HINTS and PARAMETER_HINTS[key][0] in known:
        shown = "..." if value is None else repr(value)
        hint = (TOML_HINTS[key] if toml else PARAMETER_HINTS[key][1]).format(v=shown)
        hint = f" (did you mean {hint}?)"
    else:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"{name} does not use solver parameter {key!r}{hint}; it would be ignored. "
        f"Known parameters of {name}: {', '.join(known)}"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_policy(value: Any) -> bool:
    """A Policy, or any object with the policy interface (`get(state)`, `initial()`)."""
    return isinstance(value, Policy) or (
        callable(getattr(value, "get", None)) and callable(getattr(value, "initial", None))
    )


def check_parameter_values(method: SolverMethod, params: dict[str, Any]) -> None:
    """Refuse values that are of the wrong kind (a string for a number, ...) or nonsensical
    (a negative `regu_coef`, a `max_iter` that is not a non-negative integer or inf)."""
    name = type(method).__name__
    for key, value in params.items():
        if key == "max_iter":
            ok = _is_number(value) and (
                value == math.inf or (math.isfinite(value) and int(value) == value)
            )
            if not ok or value < 0:
                raise SolverError(f"max_iter must be a non-negative integer or inf, got {value!r}")
        elif key == "regu_coef":
            if not _is_number(value) or not math.isfinite(value):
                raise SolverError(f"regu_coef must be a number >= 0, got {value!r}")
            if value < 0:
                raise SolverError(f"regu_coef must be >= 0, got {value}")
        elif key == "load_from":
            if not isinstance(value, str | os.PathLike):
                raise SolverError(f"load_from must be a path (str), got {value!r}")
        elif key in ("lr_policy", "mom_policy"):
            if not _is_policy(value):
                kind = "LRPolicy" if key == "lr_policy" else "MomPolicy"
                raise SolverError(
                    f"{key} must be a policy such as {kind}.Fixed(...), got {value!r}"
                )
        else:
            default = method.defaults().get(key)
            if isinstance(default, bool) and not isinstance(value, bool):
                raise SolverError(f"{name}: {key} must be true or false, got {value!r}")
            if _is_number(default) and not _is_number(value):
                raise SolverError(f"{name}: {key} must be a number, got {value!r}")
            if isinstance(default, Policy) and not _is_policy(value):
                raise SolverError(f"{name}: {key} must be a policy, got {value!r}")


class SolverParameters(dict):
    """A dict of solver parameters whose missing keys give a readable error; its entries are
    also readable as attributes, as Mocha's fields (`params.lr_policy`).

    `params.copy(load_from="other/")` (Mocha's `copy(params, load_from=...)`) is a new set of
    parameters with some entries changed."""

    def __missing__(self, key: str) -> Any:
        raise SolverError(f"solver parameter {key!r} is not set; parameters: {sorted(self)}")

    def __getattr__(self, key: str) -> Any:  # only for names that are not dict attributes
        return self[key] if key in self else object.__getattribute__(self, key)

    def copy(self, **changes: Any) -> SolverParameters:  # type: ignore[override]
        return SolverParameters({**self, **changes})

    __copy__ = copy


def make_solver_parameters(method: SolverMethod, **kwargs: Any) -> SolverParameters:
    """Base defaults, then the method's defaults, then the given keywords.

    A keyword the method does not use is an error with the closest known name (for Caffe's
    `momentum=0.9`: use `mom_policy=MomPolicy.Fixed(0.9)`), and so is a value of the wrong
    kind or range (see `check_parameter_values`)."""
    if not isinstance(method, SolverMethod):
        raise TypeError(
            f"make_solver_parameters: method must be a SolverMethod such as SGD(), got {method!r}"
        )
    known = known_parameters(method)
    for key, value in kwargs.items():
        if key not in known:
            raise SolverError(unknown_parameter_message(method, key, value))
    params = SolverParameters(BASE_PARAMETERS)
    params.update(method.defaults())
    params.update(kwargs)
    check_parameter_values(method, params)
    return params


@dataclass
class SolverState:
    iter: int = 0
    obj_val: float = math.inf
    losses: dict[str, float] = field(default_factory=dict)
    internal: dict[str, Any] = field(default_factory=dict)
    #: where the training iterations' time went (see mocha.core.loop_timing)
    timing: LoopTiming = field(default_factory=LoopTiming)


@dataclass(frozen=True)
class ResumeOptions:
    """How `load_from` is loaded: `weights_only` (the parameters only, from iteration 0),
    `allow_foreign_snapshot` (resume a snapshot of another experiment) and `experiment_id`
    (the identity snapshots record and a resume compares; "" from Python: not compared)."""

    weights_only: bool = False
    allow_foreign_snapshot: bool = False
    experiment_id: str = ""


def param_id(layer_name: str, param_name: str) -> str:
    return f"{layer_name}___{param_name}"


class Solver:
    """A solver method with its parameters, coffee lounge and `ResumeOptions`. After a
    solve, `resumed_from` is the snapshot it resumed (None: a fresh start) and `stop_reason`
    why a coffee break stopped it early (None: it did not)."""

    def __init__(
        self, method: SolverMethod, params: dict[str, Any], resume: ResumeOptions | None = None
    ) -> None:
        if not isinstance(method, SolverMethod):
            raise TypeError(f"Solver: method must be a SolverMethod such as SGD(), got {method!r}")
        self.method = method
        self.params = SolverParameters(params)
        known = known_parameters(method)
        for key, value in self.params.items():
            if key not in known:
                raise SolverError(unknown_parameter_message(method, key, value))
        for key in method.required:
            if key not in self.params:
                raise SolverError(
                    f"{type(method).__name__} needs solver parameter {key!r}; use "
                    f"make_solver_parameters({type(method).__name__}(), ...)"
                )
        check_parameter_values(method, self.params)
        self.coffee_lounge = CoffeeLounge()
        self.state: SolverState | None = None
        self.net: Net = None
        self.stop_requested = False
        self.resume_options = resume or ResumeOptions()
        self.resumed_from: str | None = None
        self.stop_reason: str | None = None
        # RNG + data cursors captured before the last forward (see mocha.core.resume)
        self.resume_point: dict[str, Any] | None = None
        self.capture_every_iter = False
        self._rewind_request: RewindRequest | None = None

    @property
    def lr_policy(self) -> Any:
        return self.params.get("lr_policy", LRPolicy.Fixed(0.01))

    @property
    def mom_policy(self) -> Any:
        return self.params.get("mom_policy", MomPolicy.Fixed(0.0))

    def request_stop(self) -> None:
        """Finish the current iteration, run finalization and return from `solve`."""
        self.stop_requested = True

    def request_rewind(
        self,
        snapshot_path: str,
        on_loaded: Callable[[SolverState], None] | None = None,
        resave: bool = True,
    ) -> None:
        """After the current coffee breaks, restore the full state of `snapshot_path` (as a
        resume does), call `on_loaded(state)`, rewrite the snapshot with the state as
        `on_loaded` left it (when `resave`; so a later resume from it keeps, e.g., a decayed
        rate), and rerun the forward; training continues from the snapshot's iteration. The
        breaks of that iteration are not run again. Used by `LRPolicy.DecayOnValidation`."""
        self._rewind_request = (str(snapshot_path), on_loaded, bool(resave))


def apply_constraints(net: Net, it: int) -> None:
    for state in net.trainable_states():
        for param in state.parameters:
            constraint = param.constraint
            every = getattr(constraint, "every_n_iter", 1)
            if every > 0 and it % every == 0:
                constraint.apply(net.backend, param.blob)


def _check_finite(net: Net, state: SolverState) -> None:
    if not math.isfinite(state.obj_val):
        losses = ", ".join(f"{k}={v}" for k, v in state.losses.items()) or "none"
        raise SolverError(
            f"objective became {state.obj_val} at iteration {state.iter} of net {net.name!r} "
            f"(losses: {losses}); lower the learning rate or check the data for NaN/inf"
        )


def _losses(net: Net) -> dict[str, float]:
    return {s.layer.name: float(s.loss) for s in net.states if s.layer.has_loss}


def _forward(solver: Solver, net: Net, state: SolverState, regu: float) -> None:
    """The forward that precedes the coffee breaks of `state.iter`; first capture the resume
    point when a break that snapshots is due (so the snapshot can replay this forward)."""
    if solver.capture_every_iter or solver.coffee_lounge.wants_resume_point(state.iter):
        solver.resume_point = capture_resume_point(solver, net, state.iter)
    t0 = clock(net.backend)
    state.obj_val = net.forward(regu)
    state.timing.forward += clock(net.backend) - t0
    state.losses = _losses(net)
    parallel_of(net.backend).after_forward(solver, net, state)  # data parallel: global loss
    _check_finite(net, state)


def _after_breaks(solver: Solver, net: Net, state: SolverState, regu: float) -> None:
    """Carry out a rewind requested during the coffee breaks (DecayOnValidation)."""
    parallel_of(net.backend).after_breaks(solver, net, state)  # data parallel: agree on stop
    request = solver._rewind_request
    if request is None:
        return
    solver._rewind_request = None
    rewind(solver, net, state, request)
    _forward(solver, net, state, regu)
    lounge = solver.coffee_lounge
    lounge.curr_iter = state.iter
    lounge.last_epoch = net.epoch


def init_solve(solver: Solver, net: Net) -> SolverState:
    """Check the net, load `load_from`, initialize, run the initial forward and the breaks of
    the starting iteration (0, or the resumed one).

    The lounge and the coffee breaks are set up *before* the initial forward (Mocha does it
    after) so that whatever randomness a break's `init` draws cannot shift a resumed run; the
    epoch breaks still never fire at the starting iteration (`last_epoch` is taken after the
    forward)."""
    net.check_bp_topology()
    state = SolverState()
    state.internal = solver.method.init_state(solver, net)
    solver.state, solver.net, solver.resumed_from = state, net, None
    solver.resume_point = None
    solver._rewind_request = None
    point = resume(solver, net, state)  # loaded parameters get NullInitializer
    net.init()
    lounge = solver.coffee_lounge
    lounge.setup(solver, state, net)
    if point is not None:
        load_coffee_states(solver, point.get("coffee", {}))
        apply_resume_point(solver, net, point)
        solver.resume_point = point
    parallel_of(net.backend).after_init(solver, net, state)  # data parallel: rank 0's params
    regu = float(solver.params["regu_coef"])
    _forward(solver, net, state, regu)
    lounge.curr_iter = state.iter
    lounge.last_epoch = net.epoch
    lounge.check_coffee_break(solver, state, net)
    _after_breaks(solver, net, state, regu)
    return state


def solve(solver: Solver, net: Net) -> SolverState:
    """Train `net` until `max_iter` (or `solver.request_stop()`); returns the final state.

    However it ends (done, stopped, a NaN objective, an error in a coffee break, Ctrl-C), the
    lounge is shut down once, as soon as it was set up: the breaks are destroyed and the
    statistics saved. An error while shutting down after another error is added to that one
    as a note, so the error that stopped the training is the one raised."""
    solver.stop_requested = False
    regu = float(solver.params["regu_coef"])
    max_iter = solver.params["max_iter"]
    lounge = solver.coffee_lounge
    method = solver.method
    try:
        state = init_solve(solver, net)
        timing = state.timing = LoopTiming()  # the training iterations only
        while state.iter < max_iter and not solver.stop_requested:
            t0 = clock(net.backend)
            state.iter += 1
            net.backward(regu)
            parallel_of(net.backend).after_backward(solver, net, state)  # average gradients
            t1 = clock(net.backend)
            method.update(solver, net, state)
            t2 = clock(net.backend)
            apply_constraints(net, state.iter)
            _forward(solver, net, state, regu)
            lounge.check_coffee_break(solver, state, net)
            _after_breaks(solver, net, state, regu)
            timing.backward += t1 - t0
            timing.update += t2 - t1
            timing.total += clock(net.backend) - t0
            timing.iterations += 1
    except BaseException as exc:  # also after an error in init_solve, once the lounge was set up
        try:
            lounge.shutdown(solver, net)
        except Exception as cleanup:
            exc.add_note(
                f"while shutting the coffee lounge down after this error: "
                f"{type(cleanup).__name__}: {cleanup}"
            )
        raise
    lounge.shutdown(solver, net)
    return state
