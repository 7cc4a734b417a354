"""Checkers and solutions for chapter 10, Deep reinforcement learning. The exercises that build, train or debug
something the chapter does not show live in :mod:`dlcourse.exercises.ch10_more`, re-exported at the end of this
module, so that a notebook calls every checker as ``ch10.check_X``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises import routes
from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "discounted_return": ["gamma**k", "r + gamma * g", "gamma ** np.arange"],
    "epsilon_greedy_probs": ["epsilon / q_values.size", "(1 - epsilon) * best / best.sum()", "1 - epsilon + epsilon /"],
    "td_targets": ["1 - terminated", "next_q.max(axis=1)", "~terminated"],
    "q_update": ["q[next_state].max()", "alpha * (target - q[state, action])", "reward + gamma * np.max"],
    "linear_epsilon": ["step / (fraction * total_steps)", "min(progress, 1", "start + progress * (end - start)"],
}
"""Fragments of each solution that no first-stage hint may contain (tests/test_exercise_hints.py)."""
_OWN = "this exercise asks you to write it yourself, not to call the course's version"


def _floats(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float)


# ----------------------------------------------------------------------------- 10.1 the discounted return


def solution_discounted_return(rewards: list[float], gamma: float) -> float:
    """G_0 = r_1 + gamma r_2 + gamma^2 r_3 + ...: the first reward counts fully, each later one is discounted once more."""
    return float(sum(gamma**k * r for k, r in enumerate(rewards)))


@checker
def check_discounted_return(answer: Any) -> Feedback:
    """Exercise 10.1: ``discounted_return(rewards, gamma)`` for the rewards of one episode, from its start."""
    cases = [
        Case(([1.0, 0.0, 2.0], 0.5), "rewards = [1, 0, 2], gamma = 0.5"),
        Case(([1.0, 1.0, 1.0], 0.9), "rewards = [1, 1, 1], gamma = 0.9"),
        Case(([2.0, -1.0, 0.0, 4.0], 0.8), "rewards = [2, -1, 0, 4], gamma = 0.8"),
        Case(([3.0], 0.99), "rewards = [3], gamma = 0.99"),
    ]
    return check_function(
        "discounted_return",
        answer,
        solution_discounted_return,
        cases,
        forbid=routes.forbid_names(("rl", "dlcourse", "discounted_return"), _OWN),
        hint=(
            "Compare your number with the definition of the return in the chapter: how much does each reward "
            "count, depending on when it arrives?",
            "Work out the failing case by hand, one reward at a time, and compare each term with what your code adds.",
        ),
        mistakes=[
            Mistake(
                lambda r, g: float(sum(r)),
                (
                    "Your result is the plain sum of the rewards, without discounting them.",
                    "A reward that arrives later should count less than one that arrives now: every step of delay "
                    "costs one more factor gamma.",
                ),
            ),
            Mistake(
                lambda r, g: float(sum(g ** (k + 1) * x for k, x in enumerate(r))),
                (
                    "You discounted the first reward too.",
                    "The first reward arrives at once, with no delay at all: it counts in full.",
                ),
            ),
            Mistake(
                lambda r, g: float(sum(g ** (len(r) - 1 - k) * x for k, x in enumerate(r))),
                (
                    "Your discounts run backwards: the LAST reward counts in full in your sum.",
                    "Seen from the start of the episode, which reward is the nearest, and which the most distant?",
                ),
            ),
        ],
    )


# ----------------------------------------------------------------------------- 10.2 epsilon-greedy


def solution_epsilon_greedy_probs(q_values: np.ndarray, epsilon: float) -> np.ndarray:
    """The probability of each action under epsilon-greedy, ties among the best broken uniformly.

    With probability epsilon the agent picks uniformly among all A actions, the best ones
    included; otherwise it picks one of the actions that tie for the highest value, each equally likely.
    """
    q_values = np.asarray(q_values, dtype=float)
    best = q_values == q_values.max()  # (A,) True for every action that ties for the highest value
    probs = np.full(q_values.shape, epsilon / q_values.size)  # the exploring share, spread evenly
    return probs + (1 - epsilon) * best / best.sum()  # the exploiting share, split among the best


def _is_first_best(q: np.ndarray) -> np.ndarray:
    """(A,) True only at np.argmax(q), the first of the best actions."""
    return np.arange(len(q)) == np.argmax(q)


@checker
def check_epsilon_greedy_probs(answer: Any) -> Feedback:
    """Exercise 10.2: ``epsilon_greedy_probs(q_values, epsilon)``, the probability of every action."""
    cases = [
        Case((np.array([1.0, 3.0, 2.0]), 0.0), "q_values = [1, 3, 2], epsilon = 0"),
        Case((np.array([1.0, 3.0, 2.0]), 0.3), "q_values = [1, 3, 2], epsilon = 0.3"),
        Case((np.array([0.5, -1.0, 2.5, 0.0]), 0.2), "q_values = [0.5, -1, 2.5, 0], epsilon = 0.2"),
        Case((np.array([2.0, 0.5, 2.0, -1.0]), 0.2), "q_values = [2, 0.5, 2, -1] (a tie), epsilon = 0.2"),
        Case((np.zeros(4), 0.1), "q_values = [0, 0, 0, 0] (all tie), epsilon = 0.1"),
        Case((np.array([-2.0, -0.5]), 1.0), "q_values = [-2, -0.5], epsilon = 1"),
    ]
    return check_function(
        "epsilon_greedy_probs",
        answer,
        solution_epsilon_greedy_probs,
        cases,
        hint=(
            "Split the decision in two: first the coin that decides between exploring and exploiting, then the "
            "action each branch picks. In how many ways can each action be chosen?",
            "Add up, for each action, the probability of the exploring branch picking it and the probability of the "
            "greedy branch picking it. The probabilities of all actions must add up to 1.",
        ),
        mistakes=[
            Mistake(
                lambda q, e: np.where(_is_first_best(q), 1 - e, e / (len(q) - 1)),
                (
                    "Your exploring branch never picks the best action.",
                    "The random action is drawn from ALL A actions, the best one included: the best action can be "
                    "chosen in two ways, and each of the A actions is equally likely in the random draw.",
                ),
            ),
            Mistake(
                lambda q, e: np.where(_is_first_best(q), 1 - e, e / len(q)),
                (
                    "Your probabilities do not add up to 1.",
                    "The best action can be picked by the greedy branch AND by the random draw: add both.",
                ),
            ),
            Mistake(
                lambda q, e: solution_epsilon_greedy_probs(-np.asarray(q, dtype=float), e),
                ("Your greedy branch picks the wrong action.", "The greedy action is the one with the HIGHEST value."),
            ),
            Mistake(
                lambda q, e: np.where(_is_first_best(q), 1 - e + e / len(q), e / len(q)),
                (
                    "With a tie for the best value, your probabilities favour one of the tied actions.",
                    "Epsilon-greedy breaks ties at random: every action that ties for the highest value is equally "
                    "likely to be the greedy pick. np.argmax returns only the first of them.",
                ),
            ),
            Mistake(
                lambda q, e: e / len(q) + (1 - e) * (np.asarray(q) == np.max(q)),
                (
                    "With a tie for the best value, your probabilities add up to more than 1.",
                    "The greedy branch picks ONE action: its probability is shared among the tied actions.",
                ),
            ),
        ],
    )


# ----------------------------------------------------------------------------- 10.3 the TD target


def solution_td_targets(rewards: np.ndarray, next_q: np.ndarray, terminated: np.ndarray, gamma: float) -> np.ndarray:
    """y = r + gamma * max_a' Q(s', a'), and just r where s' ended the episode; for a batch."""
    rewards, next_q = np.asarray(rewards, dtype=float), np.asarray(next_q, dtype=float)
    alive = 1.0 - np.asarray(terminated, dtype=float)  # 0 where nothing follows s'
    return rewards + gamma * alive * next_q.max(axis=1)


@checker
def check_td_targets(answer: Any) -> Feedback:
    """Exercise 10.3: ``td_targets(rewards, next_q, terminated, gamma)`` for a batch of N transitions."""
    cases = [
        Case(
            (np.array([1.0, 0.0]), np.array([[2.0, 5.0], [1.0, -1.0]]), np.array([0.0, 0.0]), 0.9),
            "rewards = [1, 0], next_q = [[2, 5], [1, -1]], terminated = [0, 0], gamma = 0.9",
        ),
        Case(
            (
                np.array([1.0, 1.0, 1.0]),
                np.array([[3.0, 4.0], [10.0, 2.0], [0.5, 0.0]]),
                np.array([0.0, 1.0, 0.0]),
                0.5,
            ),
            "rewards = [1, 1, 1], next_q = [[3, 4], [10, 2], [0.5, 0]], terminated = [0, 1, 0], gamma = 0.5",
        ),
        Case(
            (
                np.array([-1.0, 2.0, 0.5, 0.0]),
                np.array([[1.0, 2.0, 3.0], [4.0, -2.0, 0.0], [0.0, 1.0, -1.0], [2.0, 2.0, 6.0]]),
                np.array([True, False, False, True]),
                0.99,
            ),
            "rewards = [-1, 2, 0.5, 0], next_q of shape (4, 3), terminated = [True, False, False, True], gamma = 0.99",
        ),
    ]
    return check_function(
        "td_targets",
        answer,
        solution_td_targets,
        cases,
        forbid=routes.forbid_names(("rl", "dqn", "dlcourse", "td_target"), _OWN),
        hint=(
            "Row n of next_q holds the values of all actions in the next state s'_n. Which of them does the target "
            "use, and what changes where the episode ended in s'_n?",
            "The agent will act as well as it can from s' on; and after a terminal state no more rewards come. "
            "Check your output row by row on the failing case.",
        ),
        mistakes=[
            Mistake(
                lambda r, q, t, g: _floats(r) + g * _floats(q).max(axis=1),
                (
                    "Your targets ignore `terminated`.",
                    "After a terminal state no more rewards can come: the part of the target that estimates the "
                    "rewards after s' must vanish there.",
                ),
            ),
            Mistake(
                lambda r, q, t, g: (_floats(r) + g * _floats(q).max(axis=1)) * (1 - _floats(t)),
                (
                    "Where the episode ended your target is 0: you removed the reward as well.",
                    "The last reward was still received. Only the estimate of what comes after s' goes.",
                ),
            ),
            Mistake(
                lambda r, q, t, g: _floats(r) + g * (1 - _floats(t)) * _floats(q).mean(axis=1),
                (
                    "Your targets average over the actions in s'.",
                    "Q-learning assumes the agent takes the BEST action in s', not an average one.",
                ),
            ),
            Mistake(
                lambda r, q, t, g: _floats(r) + g * (1 - _floats(t)) * _floats(q).max(axis=0),
                (
                    "Your maximum runs over the wrong axis.",
                    "Take the maximum along each row (over the actions of one next state), not down the columns.",
                ),
            ),
        ],
    )


# ----------------------------------------------------------------------------- 10.4 one tabular Q update


def solution_q_update(
    q: np.ndarray,
    state: int,
    action: int,
    reward: float,
    next_state: int,
    terminated: bool,
    alpha: float,
    gamma: float,
) -> np.ndarray:
    """One Q-learning update of the table: move Q(s, a) a step alpha towards r + gamma max_a' Q(s', a')."""
    q = np.array(q, dtype=float)  # a copy: the caller's table stays as it was
    target = reward if terminated else reward + gamma * q[next_state].max()
    q[state, action] += alpha * (target - q[state, action])
    return q


def _q_update_with(
    q: np.ndarray, s: int, a: int, r: float, s2: int, t: bool, alpha: float, g: float, *, bootstrap: str
) -> np.ndarray:
    """The update with a wrong bootstrap term: the mean of Q[s'], Q[s', a], or the max of Q[s]."""
    q = np.array(q, dtype=float)
    future = {"mean": q[s2].mean(), "same action": q[s2, a], "this state": q[s].max()}[bootstrap]
    target = r if t else r + g * future
    q[s, a] += alpha * (target - q[s, a])
    return q


@checker
def check_q_update(answer: Any) -> Feedback:
    """Exercise 10.4: ``q_update(q, state, action, reward, next_state, terminated, alpha, gamma)`` returns the new table."""
    table = np.array([[0.0, 0.4], [0.2, 1.0], [0.0, 0.0]])
    cases = [
        Case(
            (table, 0, 1, 0.0, 1, False, 0.5, 0.9),
            "the 3x2 table [[0, 0.4], [0.2, 1], [0, 0]], s = 0, a = 1, r = 0, s' = 1, terminated = False, "
            "alpha = 0.5, gamma = 0.9",
        ),
        Case(
            (table, 1, 0, 1.0, 0, True, 0.1, 0.9),
            "the same table, s = 1, a = 0, r = 1, s' = 0, terminated = True, alpha = 0.1, gamma = 0.9",
        ),
        Case(
            (np.arange(12.0).reshape(4, 3) / 10, 3, 0, -1.0, 0, False, 0.25, 0.5),
            "a 4x3 table, s = 3, a = 0, r = -1, s' = 0, terminated = False, alpha = 0.25, gamma = 0.5",
        ),
    ]

    def wrong_sign(q, s, a, r, s2, t, alpha, g):
        q = np.array(q, dtype=float)
        target = r if t else r + g * q[s2].max()
        q[s, a] -= alpha * (target - q[s, a])
        return q

    def next_entry(q, s, a, r, s2, t, alpha, g):
        q = np.array(q, dtype=float)
        target = r if t else r + g * q[s2].max()
        q[s2, a] += alpha * (target - q[s2, a])
        return q

    return check_function(
        "q_update",
        answer,
        solution_q_update,
        cases,
        forbid=routes.forbid_names(("rl", "dlcourse", "q_learning_update"), _OWN),
        hint=(
            "Two steps: first the TD target for this transition, then a move of one entry of the table towards it. "
            "Which entry changed in your output, and by how much?",
            "Only Q[state, action] changes, and it moves a fraction alpha of the way from its old value towards the "
            "target. Compute the target of the failing case by hand.",
        ),
        mistakes=[
            Mistake(
                lambda q, s, a, r, s2, t, alpha, g: solution_q_update(q, s, a, r, s2, False, alpha, g),
                (
                    "Your update treats a terminal next state like any other.",
                    "When s' is terminal nothing follows it, so the target has no estimate of the future.",
                ),
            ),
            Mistake(
                lambda q, s, a, r, s2, t, alpha, g: solution_q_update(q, s, a, r, s2, t, 1.0, g),
                (
                    "Your entry jumped all the way to the target.",
                    "The update only moves Q[state, action] a fraction alpha of the way: the old value still counts.",
                ),
            ),
            Mistake(
                lambda *args: _q_update_with(*args, bootstrap="this state"),
                (
                    "Your target looks at the wrong state's values.",
                    "The estimate of the future comes from the state the agent landed in, not the one it left.",
                ),
            ),
            Mistake(
                lambda *args: _q_update_with(*args, bootstrap="mean"),
                (
                    "Your target averages the next state's action values.",
                    "Q-learning assumes the agent acts as well as it can from s' on: it uses the BEST action's "
                    "value there, not the average.",
                ),
            ),
            Mistake(
                lambda *args: _q_update_with(*args, bootstrap="same action"),
                (
                    "Your target uses the value of the same action in s'.",
                    "In s' the agent is free to choose again: the target takes the best of all actions there.",
                ),
            ),
            Mistake(
                next_entry,
                (
                    "Your update changed a row of the next state.",
                    "The transition tells you something about the action taken in the state the agent LEFT: that "
                    "is the entry to move.",
                ),
            ),
            Mistake(
                wrong_sign,
                (
                    "Your update moves Q[state, action] away from the target.",
                    "Check the sign: the TD error is the target minus the old value.",
                ),
            ),
        ],
    )


# ----------------------------------------------------------------------------- 10.5 the exploration schedule


def solution_linear_epsilon(step: int, total_steps: int, start: float, end: float, fraction: float) -> float:
    """Epsilon falls linearly from start to end over the first fraction of the steps, then stays at end."""
    progress = min(step / (fraction * total_steps), 1.0)
    return start + progress * (end - start)


@checker
def check_linear_epsilon(answer: Any) -> Feedback:
    """Exercise 10.5: ``linear_epsilon(step, total_steps, start, end, fraction)``."""
    cases = [
        Case((0, 1000, 1.0, 0.05, 0.2), "step = 0, total_steps = 1000, start = 1, end = 0.05, fraction = 0.2"),
        Case((100, 1000, 1.0, 0.05, 0.2), "step = 100, total_steps = 1000, start = 1, end = 0.05, fraction = 0.2"),
        Case((500, 1000, 1.0, 0.05, 0.2), "step = 500, total_steps = 1000, start = 1, end = 0.05, fraction = 0.2"),
        Case(
            (30_000, 50_000, 1.0, 0.04, 0.16),
            "step = 30000, total_steps = 50000, start = 1, end = 0.04, fraction = 0.16",
        ),
    ]
    return check_function(
        "linear_epsilon",
        answer,
        solution_linear_epsilon,
        cases,
        forbid=routes.forbid_names(("rl", "dlcourse", "linear_schedule"), _OWN),
        hint=(
            "Sketch epsilon against the step: a falling straight line, then a flat one. Where is the failing step "
            "on your sketch?",
            "Find how far along the falling phase the step is, as a number from 0 to 1 that never goes above 1, "
            "then interpolate between start and end.",
        ),
        mistakes=[
            Mistake(
                lambda s, n, a, b, f: a + s / (f * n) * (b - a),
                (
                    "Your epsilon goes on falling after the end of the schedule.",
                    "Once the falling phase is over, epsilon should stay at end: the progress must stop at 1.",
                ),
            ),
            Mistake(
                lambda s, n, a, b, f: a + s / n * (b - a),
                (
                    "Your epsilon falls too slowly: it falls over the whole run.",
                    "It should reach end after only the first fraction of the steps.",
                ),
            ),
            Mistake(
                lambda s, n, a, b, f: b + min(s / (f * n), 1.0) * (a - b),
                (
                    "Your epsilon rises instead of falling.",
                    "At step 0 it should equal start; start and end have swapped places in your formula.",
                ),
            ),
        ],
    )


# The exercises that follow live in ch10_more.py (this module would pass 450 lines); notebooks call them here.
from dlcourse.exercises.ch10_more import SEEDS, TARGET, TRAIN_STEPS, best_success_probability  # noqa: E402, F401, I001
from dlcourse.exercises.ch10_more import check_fix_q_learning, check_td_targets_with_truncation  # noqa: E402, F401
from dlcourse.exercises.ch10_more import check_train_frozenlake, solution_train_frozenlake  # noqa: E402, F401
from dlcourse.exercises.ch10_more import solution_fix_q_learning, solution_td_targets_with_truncation  # noqa: E402, F401
from dlcourse.exercises.ch10_pg import check_batch_reward_to_go, solution_batch_reward_to_go  # noqa: E402, F401
