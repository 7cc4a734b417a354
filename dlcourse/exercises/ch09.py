"""Checkers and solutions for chapter 9, Deep reinforcement learning."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

# ----------------------------------------------------------------------------- 9.1 the discounted return


def solution_discounted_return(rewards: list[float], gamma: float) -> float:
    """G_0 = r_1 + gamma r_2 + gamma^2 r_3 + ...: the first reward counts fully, each later one is discounted once more."""
    return float(sum(gamma**k * r for k, r in enumerate(rewards)))


@checker
def check_discounted_return(answer: Any) -> Feedback:
    """Exercise 9.1: ``discounted_return(rewards, gamma)`` for the rewards of one episode, from its start."""
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
        hint="Each step further into the future multiplies a reward by one more factor gamma. Which factor does the "
        "very first reward get, and which the second?",
        mistakes=[
            Mistake(
                lambda r, g: float(sum(r)),
                "You added the rewards without discounting them: later rewards should count less.",
            ),
            Mistake(
                lambda r, g: float(sum(g ** (k + 1) * x for k, x in enumerate(r))),
                "You discounted the first reward too. It arrives right away and counts fully: its factor is gamma**0.",
            ),
            Mistake(
                lambda r, g: float(sum(g ** (len(r) - 1 - k) * x for k, x in enumerate(r))),
                "Your discounts run backwards: the LAST reward counts fully in your sum. Seen from the start, "
                "the first reward counts fully and later ones less.",
            ),
        ],
    )


# ----------------------------------------------------------------------------- 9.2 epsilon-greedy


def solution_epsilon_greedy_probs(q_values: np.ndarray, epsilon: float) -> np.ndarray:
    """The probability of each action under epsilon-greedy (unique best action).

    With probability epsilon the agent picks uniformly among all A actions, the best one
    included; otherwise it picks the best one.
    """
    q_values = np.asarray(q_values, dtype=float)
    probs = np.full(q_values.shape, epsilon / q_values.size)  # the exploring share, spread evenly
    probs[np.argmax(q_values)] += 1.0 - epsilon  # the exploiting share
    return probs


@checker
def check_epsilon_greedy_probs(answer: Any) -> Feedback:
    """Exercise 9.2: ``epsilon_greedy_probs(q_values, epsilon)``, the probability of every action."""
    cases = [
        Case((np.array([1.0, 3.0, 2.0]), 0.0), "q_values = [1, 3, 2], epsilon = 0"),
        Case((np.array([1.0, 3.0, 2.0]), 0.3), "q_values = [1, 3, 2], epsilon = 0.3"),
        Case((np.array([0.5, -1.0, 2.5, 0.0]), 0.2), "q_values = [0.5, -1, 2.5, 0], epsilon = 0.2"),
        Case((np.array([-2.0, -0.5]), 1.0), "q_values = [-2, -0.5], epsilon = 1"),
    ]

    def greedy_gets_one_minus_eps(q, eps):
        q = np.asarray(q, dtype=float)
        probs = np.full(q.shape, eps / (q.size - 1))
        probs[np.argmax(q)] = 1 - eps
        return probs

    def exploring_forgotten_on_best(q, eps):
        q = np.asarray(q, dtype=float)
        probs = np.full(q.shape, eps / q.size)
        probs[np.argmax(q)] = 1 - eps
        return probs

    def argmin_instead(q, eps):
        return solution_epsilon_greedy_probs(-np.asarray(q, dtype=float), eps)

    return check_function(
        "epsilon_greedy_probs",
        answer,
        solution_epsilon_greedy_probs,
        cases,
        hint="Split the decision in two: with probability epsilon a uniformly random action (any of the A), "
        "otherwise the action with the highest value. Add up the ways each action can be chosen.",
        mistakes=[
            Mistake(
                greedy_gets_one_minus_eps,
                "The random action is drawn from ALL actions, the best one included, so the best action can be "
                "chosen in two ways, and every other action gets epsilon / A, not epsilon / (A - 1).",
            ),
            Mistake(
                exploring_forgotten_on_best,
                "Your probabilities do not add up to 1: the best action can also be picked by the random draw.",
            ),
            Mistake(argmin_instead, "The greedy action is the one with the HIGHEST value."),
        ],
    )


# ----------------------------------------------------------------------------- 9.3 the TD target


def solution_td_targets(rewards: np.ndarray, next_q: np.ndarray, terminated: np.ndarray, gamma: float) -> np.ndarray:
    """y = r + gamma * max_a' Q(s', a'), and just r where s' ended the episode; for a batch."""
    rewards, next_q = np.asarray(rewards, dtype=float), np.asarray(next_q, dtype=float)
    alive = 1.0 - np.asarray(terminated, dtype=float)  # 0 where nothing follows s'
    return rewards + gamma * alive * next_q.max(axis=1)


@checker
def check_td_targets(answer: Any) -> Feedback:
    """Exercise 9.3: ``td_targets(rewards, next_q, terminated, gamma)`` for a batch of N transitions."""
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
        hint="Row n of next_q holds the values of all actions in the next state s'_n. The agent will act well from "
        "there on, and nothing at all follows a terminal state.",
        mistakes=[
            Mistake(
                lambda r, q, t, g: np.asarray(r, dtype=float) + g * np.asarray(q, dtype=float).max(axis=1),
                "You bootstrap from every next state, even where the episode ended: after a terminal state no more "
                "reward can come, so the target there is just the reward.",
            ),
            Mistake(
                lambda r, q, t, g: (
                    (np.asarray(r, dtype=float) + g * np.asarray(q, dtype=float).max(axis=1))
                    * (1 - np.asarray(t, dtype=float))
                ),
                "Where the episode ended you zeroed the reward as well. The last reward was still received: only the "
                "future part goes.",
            ),
            Mistake(
                lambda r, q, t, g: (
                    np.asarray(r, dtype=float)
                    + g * (1 - np.asarray(t, dtype=float)) * np.asarray(q, dtype=float).mean(axis=1)
                ),
                "Q-learning assumes the agent takes the BEST action in s', not an average one.",
            ),
            Mistake(
                lambda r, q, t, g: (
                    np.asarray(r, dtype=float)
                    + g * (1 - np.asarray(t, dtype=float)) * np.asarray(q, dtype=float).max(axis=0)
                ),
                "Take the maximum along each row (over the actions of one next state), not down the columns.",
            ),
        ],
    )


# ----------------------------------------------------------------------------- 9.4 one tabular Q update


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


@checker
def check_q_update(answer: Any) -> Feedback:
    """Exercise 9.4: ``q_update(q, state, action, reward, next_state, terminated, alpha, gamma)`` returns the new table."""
    table = np.array([[0.0, 0.5], [0.2, 0.8], [0.0, 0.0]])
    cases = [
        Case(
            (table, 0, 1, 0.0, 1, False, 0.5, 0.9),
            "the 3x2 table, s = 0, a = 1, r = 0, s' = 1, terminated = False, alpha = 0.5, gamma = 0.9",
        ),
        Case(
            (table, 1, 0, 1.0, 0, True, 0.1, 0.9),
            "the 3x2 table, s = 1, a = 0, r = 1, s' = 0, terminated = True, alpha = 0.1, gamma = 0.9",
        ),
        Case(
            (np.arange(12.0).reshape(4, 3) / 10, 3, 2, -1.0, 0, False, 0.25, 0.5),
            "a 4x3 table, s = 3, a = 2, r = -1, s' = 0, terminated = False, alpha = 0.25, gamma = 0.5",
        ),
    ]

    def no_terminal(q, s, a, r, s2, t, alpha, g):
        return solution_q_update(q, s, a, r, s2, False, alpha, g)

    def overwrite(q, s, a, r, s2, t, alpha, g):
        return solution_q_update(q, s, a, r, s2, t, 1.0, g)

    def max_of_current_state(q, s, a, r, s2, t, alpha, g):
        return solution_q_update(q, s, a, r, s, t, alpha, g)

    def wrong_sign(q, s, a, r, s2, t, alpha, g):
        q = np.array(q, dtype=float)
        target = r if t else r + g * q[s2].max()
        q[s, a] -= alpha * (target - q[s, a])
        return q

    return check_function(
        "q_update",
        answer,
        solution_q_update,
        cases,
        hint="Compute the TD target for (s, a), then move Q[state, action] a fraction alpha of the way towards it; "
        "every other entry stays as it was.",
        mistakes=[
            Mistake(
                no_terminal,
                "When s' is terminal nothing follows it: the target is just the reward, with no max over Q[next_state].",
            ),
            Mistake(
                overwrite,
                "You replaced Q[state, action] by the target. The update only moves it a fraction alpha of the way.",
            ),
            Mistake(
                max_of_current_state,
                "The bootstrap looks at the NEXT state: take the max over Q[next_state], not Q[state].",
            ),
            Mistake(wrong_sign, "Your update moves Q[state, action] away from the target: check the sign."),
        ],
    )


# ----------------------------------------------------------------------------- 9.5 the exploration schedule


def solution_linear_epsilon(step: int, total_steps: int, start: float, end: float, fraction: float) -> float:
    """Epsilon falls linearly from start to end over the first fraction of the steps, then stays at end."""
    progress = min(step / (fraction * total_steps), 1.0)
    return start + progress * (end - start)


@checker
def check_linear_epsilon(answer: Any) -> Feedback:
    """Exercise 9.5: ``linear_epsilon(step, total_steps, start, end, fraction)``."""
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
        hint="Find how far along the falling phase the step is (a number from 0 to 1, never above 1), then "
        "interpolate between start and end.",
        mistakes=[
            Mistake(
                lambda s, n, a, b, f: a + s / (f * n) * (b - a),
                "Epsilon keeps falling after the schedule ends. Once fraction * total_steps steps have passed it "
                "should stay at end.",
            ),
            Mistake(
                lambda s, n, a, b, f: a + s / n * (b - a),
                "Epsilon falls over the whole run here. It should reach end after fraction * total_steps steps.",
            ),
        ],
    )
