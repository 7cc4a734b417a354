"""Checkers and solutions for chapter 10's policy-gradient section: the reward-to-go of a batch of episodes
laid end to end, where an episode may have fallen (terminated) or been cut off (truncated), as a rollout
buffer needs it.

Re-exported by :mod:`dlcourse.exercises.ch10`, so that notebooks call ``ch10.check_batch_reward_to_go``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises import routes
from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "batch_reward_to_go": ["rewards[t] + gamma * g", "g = next_values[t]", "if terminated[t]", "g = 0.0"],
}
"""Fragments of each solution that no first-stage hint may contain (tests/test_exercise_hints.py)."""


# ----------------------------------------------------------------------------- 10.9 reward-to-go of a batch


def solution_batch_reward_to_go(
    rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, next_values: np.ndarray, gamma: float
) -> np.ndarray:
    """The discounted reward-to-go of every step of several episodes stored one after another.

    ``rewards`` (N,) holds the episodes end to end; ``terminated`` (N,) is True at the last step of an
    episode that ended in a terminal state, ``truncated`` (N,) at the last step of one that was cut off
    (a time limit, a full buffer); ``next_values`` (N,) is the critic's estimate V(s_{t+1}) of the state
    after each step. Step t gets the discounted sum of its own reward and the later rewards of ITS episode;
    a cut-off episode adds, one step after its last reward, the estimated value of the state where it
    was cut. Walking backwards, the running sum restarts at every episode's last step: from 0 after a fall
    (which wins when both flags are set), from that estimate after a cut. Returns (N,).
    """
    rewards, next_values = np.asarray(rewards, dtype=float), np.asarray(next_values, dtype=float)
    terminated, truncated = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
    out = np.zeros(len(rewards))  # (N,)
    g = 0.0
    for t in reversed(range(len(rewards))):
        if terminated[t]:
            g = 0.0  # a fall: nothing comes after it, and what follows belongs to the next episode
        elif truncated[t]:
            g = next_values[t]  # cut off: the critic's guess of what the episode would still have earned
        g = rewards[t] + gamma * g
        out[t] = g
    return out


def _backwards(
    rewards: Any,
    terminated: Any,
    truncated: Any,
    next_values: Any,
    gamma: float,
    fall: str = "zero",
    cut: str = "value",
    late: bool = False,
    discount_value: bool = True,
    cut_first: bool = False,
) -> np.ndarray:
    """The solution's backward walk with one typical bug (the wrong answers below).

    ``fall`` / ``cut``: what the running sum restarts from after a fall / a cut: "zero", "value" (the
    estimate of the next state) or "keep" (no restart); ``late``: restart after the step's own sum
    instead of before it; ``discount_value``: discount the estimate like a later reward; ``cut_first``:
    when both flags are set, treat the step as a cut.
    """
    r, v = np.asarray(rewards, dtype=float), np.asarray(next_values, dtype=float)
    term, trunc = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
    out, g = np.zeros(len(r)), 0.0  # (N,)
    for t in reversed(range(len(r))):
        kind = cut if trunc[t] and (cut_first or not term[t]) else fall if term[t] else "keep"
        start = {"zero": 0.0, "value": (gamma if discount_value else 1.0) * v[t], "keep": gamma * g}[kind]
        g = r[t] + (gamma * g if late else start)
        out[t] = g
        if late:  # the restart placed after the step's own sum: the last step took in the next episode
            g = {"zero": 0.0, "value": v[t], "keep": g}[kind]
    return out


def _one_step(rewards: Any, terminated: Any, truncated: Any, next_values: Any, gamma: float) -> np.ndarray:
    """The one-step TD target at every step: the critic's estimate used where the rewards are known."""
    done = np.asarray(terminated, dtype=bool)
    return np.asarray(rewards, dtype=float) + gamma * np.where(done, 0.0, np.asarray(next_values, dtype=float))


_MISTAKES = [
    Mistake(lambda r, te, tr, v, g: _backwards(r, te, tr, v, g, cut="zero"), (
        "At the end of an episode that was cut off, your reward-to-go stops as if the pole had fallen.",
        "A time limit is not a fall: the episode could have gone on earning rewards. The function receives an "
        "estimate of what the state where it was cut is worth; where does that estimate belong?",
    )),
    # before the next one: on a case whose only fall has both flags, the two give the same output
    Mistake(lambda r, te, tr, v, g: _backwards(r, te, tr, v, g, cut_first=True), (
        "At a step where both flags are True you treated the episode as cut off.",
        "Both flags can be set at once when the pole falls on the last tick of the clock; the fall is what "
        "happened, so nothing more can be earned after it.",
    )),
    Mistake(lambda r, te, tr, v, g: _backwards(r, te, tr, v, g, fall="value"), (
        "After a fall your reward-to-go still adds the estimated value of the next state.",
        "A terminal state has no future: after a fall nothing more can be earned, whatever the critic says "
        "about the state it left behind.",
    )),
    Mistake(lambda r, te, tr, v, g: _backwards(r, te, tr, v, g, fall="keep", cut="keep"), (
        "Your reward-to-go runs past the end of an episode into the next one.",
        "The episodes were played one after another, but each is a game of its own: nothing done in one "
        "episode earns the rewards of the next. Where must your running sum start afresh?",
    )),
    Mistake(_one_step, (
        "You used the critic's estimate at every step: that is the one-step TD target, not the reward-to-go.",
        "Inside an episode the later rewards are known, so add them up; the estimate stands in only for the "
        "rewards an episode that was cut off never collected.",
    )),
    Mistake(lambda r, te, tr, v, g: _backwards(r, te, tr, v, g, discount_value=False), (
        "The estimated value of the state where an episode was cut is added without its discount.",
        "That value stands for rewards that would have come AFTER the last reward, so it is discounted like "
        "the next reward would have been.",
    )),
    Mistake(lambda r, te, tr, v, g: _backwards(r, te, tr, v, 1.0), (
        "Your reward-to-go does not discount the later rewards.",
        "Each step of delay should shrink a reward by one more factor gamma.",
    )),
    Mistake(lambda r, te, tr, v, g: _backwards(r, te, tr, v, g, late=True), (
        "Your running sum starts again one step too late.",
        "Walking backwards, the last step of an episode must already see the fresh start: its own reward, "
        "plus at most the discounted estimate of a cut. Check where your restart happens relative to adding "
        "the reward.",
    )),
]  # fmt: skip


@checker
def check_batch_reward_to_go(answer: Any) -> Feedback:
    """Exercise 10.9: ``batch_reward_to_go(rewards, terminated, truncated, next_values, gamma)``."""
    no, yes = False, True
    rows = [  # rewards, terminated, truncated, next_values, gamma
        ([1.0, 1.0, 1.0], [no, no, yes], [no, no, no], [5.0, 5.0, 5.0], 0.5),
        ([1.0, 1.0, 1.0, 1.0, 1.0], [no, no, yes, no, yes], [no] * 5, [2.0, 2.0, 2.0, 3.0, 3.0], 0.5),
        ([1.0, 1.0, 1.0], [no, no, no], [no, no, yes], [2.0, 3.0, 4.0], 0.5),
        ([1.0, 0.0, 2.0, 3.0, 1.0], [no, no, yes, no, no], [no, no, no, no, yes], [1.0, 2.0, 3.0, 4.0, 5.0], 0.9),
        (
            [2.0, -1.0, 0.5, 1.0, 4.0, -2.0],
            [no, yes, no, no, no, yes],
            [no, no, yes, no, no, no],
            [0.5, -1.5, 2.5, 1.0, 3.0, 6.0],
            0.8,
        ),
        ([1.0, 2.0, 1.0, 1.0], [no, no, no, yes], [no, yes, no, yes], [0.5, -3.0, 2.0, 7.0], 1.0),
        ([3.0, 1.0, 2.0], [no, no, no], [no, no, yes], [4.0, 4.0, 4.0], 0.0),
        # both flags in the middle of the buffer, then a cut-off episode: each ending is told apart from the others
        ([1.0, 2.0, 1.0, 0.5, 1.0], [no, yes, no, no, no], [no, yes, no, no, yes], [1.0, 4.0, 2.0, -1.0, 3.0], 0.9),
    ]
    cases = [
        Case(
            (np.array(r), np.array(te), np.array(tr), np.array(v), g),
            f"rewards = {r}, terminated = {te}, truncated = {tr}, next_values = {v}, gamma = {g}",
        )
        for r, te, tr, v, g in rows
    ]
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
            "list the rewards that count and how much each is discounted, and ask what an episode that was cut "
            "off would still have earned.",
            "Walk through the array from the end towards the start with a running sum, the way the return was "
            "computed backwards earlier in the chapter. At the last step of an episode the sum starts afresh: "
            "from nothing after a fall, from the critic's estimate of the next state after a cut.",
        ),
        mistakes=_MISTAKES,
    )
