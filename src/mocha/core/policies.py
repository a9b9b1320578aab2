"""Learning-rate and momentum policies (semantics §6.7). `iter` is the solver's iteration at
update time, 1 at the first update. `initial()` is the no-state value (shown at iteration 0)."""

from __future__ import annotations

import math
from typing import Any


class Policy:
    def get(self, state: Any) -> float:
        raise NotImplementedError

    def initial(self) -> float:
        raise NotImplementedError

    def state_dict(self) -> dict[str, float]:
        return {}

    def load_state_dict(self, data: dict[str, float]) -> None:
        pass


def _check(cond: bool, policy: str, message: str) -> None:
    if not cond:
        raise ValueError(f"{policy}: {message}")


class _Staged(Policy):
    """Stages `(n_iter, policy)`: the active policy is evaluated with the global iteration;
    the stage advances while `iter >= n1 + ... + nk` and the last stage lasts forever."""

    def __init__(self, *stages: tuple[int, Policy]) -> None:
        _check(len(stages) > 0, "Staged", "needs at least one (n_iter, policy) stage")
        self.stages = [(int(n), p) for n, p in stages]
        bounds, total = [], 0
        for n, _ in self.stages:
            total += n
            bounds.append(total)
        self.bounds = bounds
        self.curr_stage = 0

    def _advance(self, it: int) -> Policy:
        while self.curr_stage < len(self.stages) - 1 and it >= self.bounds[self.curr_stage]:
            self.curr_stage += 1
        return self.stages[self.curr_stage][1]

    def get(self, state: Any) -> float:
        return self._advance(int(state.iter)).get(state)

    def initial(self) -> float:
        return self.stages[self.curr_stage][1].initial()

    def __repr__(self) -> str:
        return f"Staged({', '.join(f'({n}, {p!r})' for n, p in self.stages)})"


class LRPolicy:
    """Namespace of learning-rate policies: `LRPolicy.Inv(0.01, 0.0001, 0.75)`."""

    class Fixed(Policy):
        def __init__(self, base_lr: float) -> None:
            self.base_lr = float(base_lr)

        def get(self, state: Any) -> float:
            return self.base_lr

        def initial(self) -> float:
            return self.base_lr

        def __repr__(self) -> str:
            return f"LRPolicy.Fixed({self.base_lr})"

    class Step(Policy):
        """base_lr · gamma^⌊iter/stepsize⌋"""

        def __init__(self, base_lr: float, gamma: float, stepsize: int) -> None:
            _check(int(stepsize) > 0, "LRPolicy.Step", f"stepsize must be > 0, got {stepsize}")
            self.base_lr, self.gamma, self.stepsize = float(base_lr), float(gamma), int(stepsize)

        def get(self, state: Any) -> float:
            return self.base_lr * self.gamma ** (int(state.iter) // self.stepsize)

        def initial(self) -> float:
            return self.base_lr

        def __repr__(self) -> str:
            return f"LRPolicy.Step({self.base_lr}, {self.gamma}, {self.stepsize})"

    class Exp(Policy):
        """base_lr · gamma^iter"""

        def __init__(self, base_lr: float, gamma: float) -> None:
            self.base_lr, self.gamma = float(base_lr), float(gamma)

        def get(self, state: Any) -> float:
            return self.base_lr * self.gamma ** int(state.iter)

        def initial(self) -> float:
            return self.base_lr

        def __repr__(self) -> str:
            return f"LRPolicy.Exp({self.base_lr}, {self.gamma})"

    class Inv(Policy):
        """base_lr · (1 + gamma·iter)^(−power)"""

        def __init__(self, base_lr: float, gamma: float, power: float) -> None:
            self.base_lr, self.gamma, self.power = float(base_lr), float(gamma), float(power)

        def get(self, state: Any) -> float:
            return self.base_lr * math.pow(1.0 + self.gamma * int(state.iter), -self.power)

        def initial(self) -> float:
            return self.base_lr

        def __repr__(self) -> str:
            return f"LRPolicy.Inv({self.base_lr}, {self.gamma}, {self.power})"

    class Staged(_Staged):
        pass


class MomPolicy:
    """Namespace of momentum policies: `MomPolicy.Fixed(0.9)`."""

    class Fixed(Policy):
        def __init__(self, base_mom: float) -> None:
            self.base_mom = float(base_mom)

        def get(self, state: Any) -> float:
            return self.base_mom

        def initial(self) -> float:
            return self.base_mom

        def __repr__(self) -> str:
            return f"MomPolicy.Fixed({self.base_mom})"

    class Step(Policy):
        """min(base_mom · gamma^⌊iter/stepsize⌋, max_mom)"""

        def __init__(self, base_mom: float, gamma: float, stepsize: int, max_mom: float) -> None:
            _check(int(stepsize) > 0, "MomPolicy.Step", f"stepsize must be > 0, got {stepsize}")
            self.base_mom, self.gamma = float(base_mom), float(gamma)
            self.stepsize, self.max_mom = int(stepsize), float(max_mom)

        def get(self, state: Any) -> float:
            value = self.base_mom * self.gamma ** (int(state.iter) // self.stepsize)
            return min(value, self.max_mom)

        def initial(self) -> float:
            return self.base_mom

    class Linear(Policy):
        """min(base_mom + ⌊iter/stepsize⌋·gamma, max_mom)"""

        def __init__(self, base_mom: float, gamma: float, stepsize: int, max_mom: float) -> None:
            _check(int(stepsize) > 0, "MomPolicy.Linear", f"stepsize must be > 0, got {stepsize}")
            self.base_mom, self.gamma = float(base_mom), float(gamma)
            self.stepsize, self.max_mom = int(stepsize), float(max_mom)

        def get(self, state: Any) -> float:
            value = self.base_mom + (int(state.iter) // self.stepsize) * self.gamma
            return min(value, self.max_mom)

        def initial(self) -> float:
            return self.base_mom

    class Staged(_Staged):
        pass
