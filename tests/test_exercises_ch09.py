"""Chapter 9 exercises: every solution passes, typical wrong answers get their hints, checkers never raise."""

from __future__ import annotations

import numpy as np

from dlcourse import rl
from dlcourse.exercises import ch09
from dlcourse.numpy import dqn

from .exercise_suite import discover, raises_boom, standard_tests

SOLUTIONS = discover(ch09)  # every check_X with its solution_X (tests/exercise_suite.py)
CHECKERS = [checker for checker, _ in SOLUTIONS]


def test_solutions_agree_with_the_package():
    rewards, gamma = [2.0, -1.0, 0.0, 4.0], 0.8
    assert np.isclose(ch09.solution_discounted_return(rewards, gamma), rl.discounted_return(rewards, gamma))

    rng = np.random.default_rng(0)
    next_q, r, t = rng.normal(size=(5, 3)), rng.normal(size=5), np.array([0, 1, 0, 1, 0.0])
    np.testing.assert_allclose(ch09.solution_td_targets(r, next_q, t, 0.9), dqn.td_target(r, next_q, t, 0.9))

    q = rng.normal(size=(4, 2))
    mine = ch09.solution_q_update(q, 1, 0, 0.5, 3, False, 0.3, 0.9)
    rl.q_learning_update(q, 1, 0, 0.5, 3, False, 0.3, 0.9)
    np.testing.assert_allclose(mine, q)

    for step in (0, 50, 160, 999):
        assert np.isclose(
            ch09.solution_linear_epsilon(step, 1000, 1.0, 0.04, 0.16), rl.linear_schedule(step, 1000, 1.0, 0.04, 0.16)
        )


def test_epsilon_greedy_probs_match_the_frequencies_of_the_package():
    q, eps, n = np.array([0.5, -1.0, 2.5, 0.0]), 0.2, 40_000
    rng = np.random.default_rng(1)
    counts = np.bincount([rl.epsilon_greedy(q, eps, rng) for _ in range(n)], minlength=4)
    np.testing.assert_allclose(counts / n, ch09.solution_epsilon_greedy_probs(q, eps), atol=0.01)


def test_other_correct_answers_pass():
    def discounted_backwards(rewards, gamma):
        g = 0.0
        for r in reversed(rewards):
            g = r + gamma * g
        return g

    assert ch09.check_discounted_return(discounted_backwards).passed

    def q_update_in_place(q, s, a, r, s2, done, alpha, gamma):
        target = r + (0 if done else gamma * q[s2].max())
        q[s, a] = (1 - alpha) * q[s, a] + alpha * target
        return q

    assert ch09.check_q_update(q_update_in_place).passed
    assert ch09.check_linear_epsilon(lambda s, n, a, b, f: max(b, a - (a - b) * s / (f * n))).passed


# (checker, typical wrong answer, words the targeted hint must contain)
WRONG = [
    (ch09.check_discounted_return, lambda r, g: sum(r), "without discounting"),
    (ch09.check_discounted_return, lambda r, g: sum(g ** (k + 1) * x for k, x in enumerate(r)), "first reward too"),
    (
        ch09.check_discounted_return,
        lambda r, g: sum(g ** (len(r) - 1 - k) * x for k, x in enumerate(r)),
        "run backwards",
    ),
    (ch09.check_discounted_return, lambda r, g: None, "return"),
    (
        ch09.check_epsilon_greedy_probs,
        lambda q, e: np.where(np.arange(len(q)) == np.argmax(q), 1 - e, e / (len(q) - 1)),
        "best one included",
    ),
    (
        ch09.check_epsilon_greedy_probs,
        lambda q, e: np.where(np.arange(len(q)) == np.argmax(q), 1 - e, e / len(q)),
        "do not add up to 1",
    ),
    (
        ch09.check_epsilon_greedy_probs,
        lambda q, e: np.where(np.arange(len(q)) == np.argmin(q), 1 - e + e / len(q), e / len(q)),
        "HIGHEST",
    ),
    (ch09.check_td_targets, lambda r, q, t, g: r + g * q.max(axis=1), "even where the episode ended"),
    (ch09.check_td_targets, lambda r, q, t, g: (r + g * q.max(axis=1)) * (1 - t), "zeroed the reward"),
    (ch09.check_td_targets, lambda r, q, t, g: r + g * (1 - t) * q.mean(axis=1), "BEST action"),
    (
        ch09.check_q_update,
        lambda q, s, a, r, s2, t, al, g: ch09.solution_q_update(q, s, a, r, s2, False, al, g),
        "terminal",
    ),
    (
        ch09.check_q_update,
        lambda q, s, a, r, s2, t, al, g: ch09.solution_q_update(q, s, a, r, s2, t, 1.0, g),
        "fraction alpha",
    ),
    (
        ch09.check_q_update,
        lambda q, s, a, r, s2, t, al, g: ch09.solution_q_update(q, s, a, r, s, t, al, g),
        "NEXT state",
    ),
    (ch09.check_linear_epsilon, lambda s, n, a, b, f: a + s / (f * n) * (b - a), "keeps falling"),
    (ch09.check_linear_epsilon, lambda s, n, a, b, f: a + s / n * (b - a), "whole run"),
]


def test_wrong_sign_of_the_update_gets_its_hint():
    def wrong_sign(q, s, a, r, s2, t, alpha, g):
        q = np.array(q, dtype=float)
        q[s, a] -= alpha * ((r if t else r + g * q[s2].max()) - q[s, a])
        return q

    feedback = ch09.check_q_update(wrong_sign)
    assert not feedback.passed and "sign" in feedback.hint, str(feedback)


def test_td_max_down_the_columns_gets_its_hint():
    # The first case is square, so max(axis=0) broadcasts there and fails with a wrong value: the targeted hint.
    feedback = ch09.check_td_targets(lambda r, q, t, g: r + g * (1 - t) * q.max(axis=0))
    assert not feedback.passed, str(feedback)
    assert "along each row" in feedback.hint, str(feedback)


def test_hints_do_not_give_the_answer_away():
    for checker in CHECKERS:
        feedback = checker(lambda *a: None)
        for giveaway in ("gamma**k", "gamma ** k", "1 - epsilon + epsilon / A", "min(", "(1 - terminated)"):
            assert giveaway not in feedback.hint, (giveaway, feedback.hint)


def test_exception_inside_learner_code_is_reported():
    feedback = ch09.check_q_update(raises_boom)
    assert "raised RuntimeError: boom" in feedback.message
    assert "s = 0, a = 1" in feedback.message  # which input failed


test_solution_passes, test_typical_wrong_answer_gets_its_hint, test_checker_never_raises = standard_tests(
    SOLUTIONS, WRONG, CHECKERS
)
