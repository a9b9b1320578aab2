"""`StagedPolicy`: the stages shared by `LRPolicy.Staged` and `MomPolicy.Staged`."""

from __future__ import annotations

import bisect
from typing import Any

from mocha.core.policies import Policy, policy_check, policy_int


class StagedPolicy(Policy):
    """Stages `(n1, P1), (n2, P2), ...` with cumulative boundaries `B_k = n1 + ... + nk`.

    At iteration `iter` the active stage is the first k with `iter < B_k` (the last stage lasts
    forever), and its policy is evaluated with the **global** iteration, not the iteration
    relative to the stage start: with `(60000, Fixed(1e-3)), (5000, Fixed(1e-4)), (1, ...)`,
    iterations 1–59999 use 1e-3 and 60000–64999 use 1e-4. The stage is recomputed from `iter`
    on every call, which equals Mocha's "advance while iter >= B_curr" for increasing
    iterations and also stays right after a resume or a DecayOnValidation rewind.
    `initial()` is the current stage's initial value (the first stage's before any call).
    """

    def __init__(self, *stages: tuple[int, Policy]) -> None:
        policy_check(len(stages) > 0, "Staged", "needs at least one (n_iter, policy) stage")
        for item in stages:
            policy_check(
                isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Policy),
                "Staged",
                f"each stage must be (n_iter, policy), got {item!r}",
            )
            policy_int(item[0], "Staged", "a stage's length (n_iter)", 0)
        self.stages = [(int(n), p) for n, p in stages]
        bounds, total = [], 0
        for n, _ in self.stages:
            total += n
            bounds.append(total)
        self.bounds = bounds
        self.curr_stage = 0

    def stage_at(self, it: int) -> int:
        """Index of the active stage at iteration `it`."""
        return min(bisect.bisect_right(self.bounds, it), len(self.stages) - 1)

    def get(self, state: Any) -> float:
        self.curr_stage = self.stage_at(int(state.iter))
        return self.stages[self.curr_stage][1].get(state)

    def initial(self) -> float:
        return self.stages[self.curr_stage][1].initial()

    def state_dict(self) -> dict[str, Any]:
        return {"stages": [p.state_dict() for _, p in self.stages]}

    def load_state_dict(self, data: dict[str, Any]) -> None:
        subs = data.get("stages", [])
        for (_, policy), sub in zip(self.stages, subs):
            policy.load_state_dict(sub)

    def __repr__(self) -> str:
        return f"Staged({', '.join(f'({n}, {p!r})' for n, p in self.stages)})"
