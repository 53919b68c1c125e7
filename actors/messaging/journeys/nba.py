"""Next best action: a bandit per context that learns which action converts.

Each decision is an (action, context) pull of a River bandit policy (``river.bandit``:
Thompson sampling on a Beta reward, epsilon-greedy, UCB, or uniform random as a baseline).
The reward is delayed: 1 if the customer orders within the window after the action, else 0,
credited when the window closes in virtual time (a heap of closing times, like the predictive
labels), so the bandit never learns from an outcome that has not matured. A conversion is
credited to the customer's latest open decision only (last touch). With ``context="stage"``
there is one policy per lifecycle stage: a per-context bandit, cheap and readable, where an
awareness-stage customer may well need another action than one with a cart.

Determinism: each policy's random stream is seeded from the learner's seed and the context by
hashing, and pulls happen in the engine's deterministic order.
"""

from __future__ import annotations

import hashlib
import heapq
from typing import Any

from river import bandit, proba

from promoloop.actors.messaging.journeys.definition import DAY, NextBestAction


class Decision:
    __slots__ = ("arm", "at", "context", "converted", "user")

    def __init__(self, user: str, context: str, arm: str, at: float) -> None:
        self.user = user
        self.context = context
        self.arm = arm
        self.at = at
        self.converted = False


def _policy(step: NextBestAction, seed: int) -> Any:
    if step.policy == "thompson":
        return bandit.ThompsonSampling(reward_obj=proba.Beta(), seed=seed)
    if step.policy == "epsilon_greedy":
        return bandit.EpsilonGreedy(epsilon=step.epsilon, seed=seed)
    if step.policy == "ucb":
        return bandit.UCB(delta=1.0, seed=seed)
    return bandit.RandomPolicy(seed=seed)


class NbaLearner:
    """The bandits of one next-best-action step, its open decisions and what it learned."""

    def __init__(self, step: NextBestAction, seed: int) -> None:
        self.step = step
        self.seed = seed
        self.arms = [arm.name for arm in step.arms]
        self.idle = next((arm.name for arm in step.arms if arm.channel is None), None)
        """The do-nothing arm, if the step has one."""
        self.window = step.window_days * DAY
        self.policies: dict[str, Any] = {}
        self.pulls: dict[tuple[str, str], int] = {}
        self.rewarded: dict[tuple[str, str], int] = {}
        self.matured: dict[tuple[str, str], int] = {}
        self.by_uplift = 0
        """Decisions the uplift rule made (do nothing for a non-positive predicted uplift)."""
        self._open: dict[str, Decision] = {}
        self._closing: list[tuple[float, int, Decision]] = []
        self._seq = 0

    def _policy_for(self, context: str) -> Any:
        policy = self.policies.get(context)
        if policy is None:
            digest = hashlib.blake2b(f"{self.seed}/{context}".encode(), digest_size=4).digest()
            policy = self.policies[context] = _policy(self.step, int.from_bytes(digest, "big"))
        return policy

    def choose(self, user: str, context: str, now: float, uplift: Any = None) -> str:
        """Pick an arm for ``user`` now and open its reward window."""
        if (
            self.idle is not None
            and isinstance(uplift, int | float)
            and not isinstance(uplift, bool)
            and uplift <= self.step.uplift_floor
        ):
            arm = self.idle
            self.by_uplift += 1
        else:
            arm = self._policy_for(context).pull(self.arms)
        decision = Decision(user, context, arm, now)
        self._open[user] = decision
        self._seq += 1
        heapq.heappush(self._closing, (now + self.window, self._seq, decision))
        key = (context, arm)
        self.pulls[key] = self.pulls.get(key, 0) + 1
        return arm

    def converted(self, user: str, now: float) -> None:
        """An order: credit the customer's latest decision if its window is still open."""
        decision = self._open.get(user)
        if decision is not None and now - decision.at <= self.window:
            decision.converted = True

    def mature(self, now: float) -> int:
        """Close the windows that ended by ``now``: each updates its policy once."""
        closed = 0
        while self._closing and self._closing[0][0] <= now:
            _, _, decision = heapq.heappop(self._closing)
            reward = 1.0 if decision.converted else 0.0
            self._policy_for(decision.context).update(decision.arm, reward)
            key = (decision.context, decision.arm)
            self.matured[key] = self.matured.get(key, 0) + 1
            self.rewarded[key] = self.rewarded.get(key, 0) + int(decision.converted)
            if self._open.get(decision.user) is decision:
                del self._open[decision.user]
            closed += 1
        return closed

    def next_due(self) -> float | None:
        return self._closing[0][0] if self._closing else None

    def report(self) -> dict[str, Any]:
        """Per arm: pulls, matured decisions, conversions and the learned conversion rate,
        overall and per context."""

        def summary(keys: list[tuple[str, str]]) -> dict[str, Any]:
            pulls = sum(self.pulls.get(k, 0) for k in keys)
            matured = sum(self.matured.get(k, 0) for k in keys)
            rewarded = sum(self.rewarded.get(k, 0) for k in keys)
            return {
                "pulls": pulls,
                "matured": matured,
                "conversions": rewarded,
                "conversion_rate": round(rewarded / matured, 4) if matured else None,
            }

        contexts = sorted({c for c, _ in self.pulls})
        total = sum(self.pulls.values())
        arms = {}
        for arm in self.arms:
            keys = [(c, arm) for c in contexts]
            row = summary(keys)
            row["share"] = round(row["pulls"] / total, 4) if total else None
            arms[arm] = row
        return {
            "policy": self.step.policy,
            "decisions": total,
            "by_uplift_rule": self.by_uplift,
            "arms": arms,
            "by_context": {c: {arm: summary([(c, arm)]) for arm in self.arms} for c in contexts},
        }
