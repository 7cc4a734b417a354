"""Checkers and solutions for chapter 9's policy-gradient section: the reward-to-go of a batch of episodes
laid end to end, as REINFORCE's update needs it.

Re-exported by :mod:`dlcourse.exercises.ch09`, so that notebooks call ``ch09.check_batch_reward_to_go``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises import routes
from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "batch_reward_to_go": ["rewards[t] + gamma * g", "if ends[t]", "g = 0.0"],
}
"""Fragments of each solution that no first-stage hint may contain (tests/test_exercise_hints.py)."""


# ----------------------------------------------------------------------------- 9.9 reward-to-go of a batch


def solution_batch_reward_to_go(rewards: np.ndarray, ends: np.ndarray, gamma: float) -> np.ndarray:
    """The discounted reward-to-go of every step of several episodes stored one after another.

    ``rewards`` (N,) holds the episodes end to end and ``ends`` (N,) is True at the last step of each;
    step t gets the discounted sum of its own reward and the later rewards of ITS episode only.
    Walking backwards, the running sum starts again at every episode's last step.
    """
    rewards, ends = np.asarray(rewards, dtype=float), np.asarray(ends, dtype=bool)
    out = np.zeros(len(rewards))  # (N,)
    g = 0.0
    for t in reversed(range(len(rewards))):
        if ends[t]:
            g = 0.0  # step t ends its episode: what follows belongs to the next one
        g = rewards[t] + gamma * g
        out[t] = g
    return out


def _episodes(ends: Any) -> list[range]:
    """The index range of each episode, from the flags that mark their last steps."""
    stops = [int(i) + 1 for i in np.flatnonzero(np.asarray(ends, dtype=bool))]
    starts = [0, *stops[:-1]]
    return [range(a, b) for a, b in zip(starts, stops, strict=True)]


def _per_episode(rewards: Any, ends: Any, weight: Any) -> np.ndarray:
    """out[t] = sum over the steps k of t's episode of weight(t, k, first) * r_k, ``first`` the episode's
    first step (the wrong answers below)."""
    r, out = np.asarray(rewards, dtype=float), np.zeros(len(rewards))
    for steps in _episodes(ends):
        for t in steps:
            out[t] = sum(weight(t, k, steps.start) * r[k] for k in steps)
    return out


def _reset_after(rewards: Any, ends: Any, gamma: float) -> np.ndarray:
    """The running sum reset one step too late: after the last step of an episode instead of before it."""
    out, g = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        g = float(rewards[t]) + gamma * g
        out[t] = g
        if ends[t]:
            g = 0.0
    return out


def _across_episodes(rewards: Any, ends: Any, gamma: float) -> np.ndarray:
    """The running sum never reset: one reward-to-go over the whole array."""
    out, g = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        g = float(rewards[t]) + gamma * g
        out[t] = g
    return out


_MISTAKES = [
    Mistake(_across_episodes, (
        "Your reward-to-go runs past the end of an episode into the next one.",
        "The episodes were played one after another, but each is a game of its own: nothing done in one "
        "episode earns the rewards of the next. Where must your running sum start afresh?",
    )),
    Mistake(lambda r, e, g: _per_episode(r, e, lambda t, k, first: g ** (k - first)), (
        "Every step of an episode gets the same number: the episode's return seen from its first step.",
        "An action cannot change rewards that arrived before it was taken. Which rewards can the action "
        "of step t still influence?",
    )),
    Mistake(lambda r, e, g: _per_episode(r, e, lambda t, k, first: g ** (t - k) if k <= t else 0.0), (
        "Your sum collects the rewards that came BEFORE each step, not after it.",
        "The reward-to-go looks ahead in time: from step t to the end of its episode, the nearest reward first.",
    )),
    Mistake(lambda r, e, g: _per_episode(r, e, lambda t, k, first: 1.0 if k >= t else 0.0), (
        "Your reward-to-go does not discount the later rewards.",
        "Each step of delay should shrink a reward by one more factor gamma.",
    )),
    Mistake(lambda r, e, g: _per_episode(r, e, lambda t, k, first: g ** (k - t + 1) if k >= t else 0.0), (
        "You discounted the reward of step t itself.",
        "The reward that follows the action of step t arrives at once: it counts in full, and only the later "
        "ones are discounted.",
    )),
    Mistake(_reset_after, (
        "Your running sum starts again one step too late.",
        "Walking backwards, the last step of an episode must already see a fresh sum: at that step only its own "
        "reward counts. Check where your reset happens relative to adding the reward.",
    )),
]  # fmt: skip


@checker
def check_batch_reward_to_go(answer: Any) -> Feedback:
    """Exercise 9.9: ``batch_reward_to_go(rewards, ends, gamma)`` for episodes stored end to end."""
    rows = [  # rewards, ends, gamma
        ([1.0, 1.0, 1.0], [False, False, True], 0.5),
        ([1.0, 0.0, 2.0, 3.0, 1.0], [False, False, True, False, True], 0.9),
        ([2.0, -1.0, 0.5, 1.0, 4.0, -2.0], [False, True, True, False, False, True], 0.8),
        ([1.0, 2.0, 1.0, 1.0], [False, True, False, True], 1.0),
        ([3.0, 1.0, 2.0], [False, False, True], 0.0),
    ]
    cases = [Case((np.array(r), np.array(e), g), f"rewards = {r}, ends = {e}, gamma = {g}") for r, e, g in rows]
    return check_function(
        "batch_reward_to_go",
        answer,
        solution_batch_reward_to_go,
        cases,
        forbid=routes.forbid_names(
            ("policy_gradient", "reward_to_go", "episode_batch", "dlcourse"),
            "this exercise asks you to write it yourself, not to call the course's version",
        ),
        hint=(
            "Work out the failing case by hand: split the rewards into episodes at the flags, then for one step "
            "list the rewards that should count and by how much each is discounted.",
            "Walk through the array from the end towards the start with a running sum, the way the return was "
            "computed backwards earlier in the chapter; decide at which steps the sum must start from nothing.",
        ),
        mistakes=_MISTAKES,
    )
