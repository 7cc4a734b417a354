"""Checkers and solutions for chapter 9, continued: TD targets that tell a time limit from an ending,
tabular Q-learning trained on the slippery lake within a step budget, and a Q-learning loop with a bug.

Re-exported by :mod:`dlcourse.exercises.ch09`, so that notebooks call ``ch09.check_train_frozenlake``.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np

from dlcourse import rl
from dlcourse.exercises import routes, running
from dlcourse.exercises.compare import fmt, non_real, to_array
from dlcourse.exercises.core import Case, Feedback, Mistake, check_function
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "td_targets_with_truncation": ["1 - terminated", "next_q.max(axis=1)", "~terminated"],
    "train_frozenlake": ["q[next_state].max()", "rng.random() < epsilon", "q[state, action] += alpha"],
    "fix_q_learning": ["q[state, action] += alpha * (target - q[state, action])\n        state = next_state"],
}
"""Fragments of each solution that no first-stage hint may contain (tests/test_exercise_hints.py)."""


def _floats(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float)


# ----------------------------------------------------------------------------- 9.6 a time limit is not an ending


def solution_td_targets_with_truncation(
    rewards: np.ndarray, next_q: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, gamma: float
) -> np.ndarray:
    """TD targets for N transitions whose episodes may have terminated or been truncated on that step.

    Only a terminal s' cuts off the future. A time limit stops the clock, not the task: s' still has a
    value, so a truncated transition bootstraps like any other. A step that is both (the pole fell on
    the last allowed step) terminated: nothing follows it. ``truncated`` therefore changes no target.
    """
    alive = 1.0 - _floats(terminated)  # (N,) 0 where s' is terminal, whatever the clock said
    return _floats(rewards) + gamma * alive * _floats(next_q).max(axis=1)


def _targets(r: Any, q: Any, g: float, alive: np.ndarray) -> np.ndarray:
    return _floats(r) + g * alive * _floats(q).max(axis=1)


@checker
def check_td_targets_with_truncation(answer: Any) -> Feedback:
    """Exercise 9.6: ``td_targets_with_truncation(rewards, next_q, terminated, truncated, gamma)``."""

    rows = [  # rewards, next_q, terminated, truncated, gamma: every combination of the two flags
        ([1, 0, 1], [[2, 5], [1, -1], [3, 0]], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], 0.9),
        ([1, 1, 0, 2], [[1, 2, 3], [4, -2, 0], [0, 1, -1], [2, 2, 6]], [False, True, False, True],
         [True, False, False, True], 0.5),
        ([-1, 0.5, 1], [[0.5, 1.5], [2, -3], [-1, -2]], [0.0] * 3, [1.0] * 3, 0.99),
    ]  # fmt: skip
    cases = [
        Case((_floats(r), _floats(q), np.array(t), np.array(tr), g),
             f"rewards = {r}, next_q = {q}, terminated = {t}, truncated = {tr}, gamma = {g}")
        for r, q, t, tr, g in rows
    ]  # fmt: skip
    return check_function(
        "td_targets_with_truncation",
        answer,
        solution_td_targets_with_truncation,
        cases,
        hint=(
            "Go through the rows of the failing case one by one and ask, for each: does the agent have a future "
            "after s'?",
            "Two different things can end an episode. One means s' has no future at all; the other only means that "
            "the recording stopped there. Which of them should change the target?",
        ),
        mistakes=[
            Mistake(
                lambda r, q, t, tr, g: _targets(r, q, g, 1 - np.maximum(_floats(t), _floats(tr))),
                (
                    "Your targets treat a time limit like a real ending.",
                    "When the clock runs out, s' still has a future: the agent could have gone on from there, so its "
                    "value belongs in the target. Had the agent taken this step earlier in the episode, would s' be "
                    "worth less?",
                ),
            ),
            Mistake(
                lambda r, q, t, tr, g: _targets(r, q, g, 1 - _floats(tr)),
                (
                    "Your targets look at the wrong flag.",
                    "Which of the two endings leaves nothing to come after s'? That one, and only that one, removes "
                    "the estimate of the future from the target.",
                ),
            ),
            Mistake(
                lambda r, q, t, tr, g: _targets(r, q, g, np.ones(len(_floats(r)))),
                (
                    "Your targets ignore how the episodes ended.",
                    "After a terminal state no more rewards can come: there the estimate of the future must vanish.",
                ),
            ),
            Mistake(
                lambda r, q, t, tr, g: _targets(r, q, g, np.maximum(1 - _floats(t), _floats(tr))),
                (
                    "Where a step both terminated and hit the time limit, your target still looks ahead.",
                    "A step can be both: the pole fell on the very last allowed step. It still fell, and nothing "
                    "follows a fall.",
                ),
            ),
            Mistake(
                lambda r, q, t, tr, g: _floats(r) * (1 - _floats(t)) + g * (1 - _floats(t)) * _floats(q).max(axis=1),
                (
                    "Where the episode terminated your target is 0: you removed the reward as well.",
                    "The last reward was still received. Only the estimate of what comes after s' goes.",
                ),
            ),
            Mistake(
                lambda r, q, t, tr, g: _floats(r) + g * (1 - _floats(t)) * _floats(q).mean(axis=1),
                (
                    "Your targets average over the actions in s'.",
                    "Q-learning assumes the agent takes the BEST action in s', not an average one.",
                ),
            ),
        ],
    )


# ----------------------------------------------------------------------------- 9.7 train an agent on slippery ice

TRAIN_STEPS = 20_000  # the step budget of the learner's loop
TARGET = 0.5  # the greedy policy must reach the goal at least this often (the best policy: about 0.74)
SEED = 9  # seeds the lake's first reset, its action space and the generator handed to the learner
HORIZON = 100  # FrozenLake-v1's time limit


def solution_train_frozenlake(env: Any, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Tabular Q-learning on the slippery lake for ``steps`` environment steps; returns the greedy policy.

    Args:
        env: FrozenLake-v1 with slippery ice (Discrete spaces: 16 states, 4 actions).
        steps: the most times the loop may call ``env.step``.
        rng: the generator of the exploration.

    Returns:
        (S,) the greedy action of every state.
    """
    alpha, gamma = 0.1, 0.99  # small steps: on slippery ice one transition says little
    n_actions = env.action_space.n
    q = np.zeros((env.observation_space.n, n_actions))  # (S, A)
    state, _ = env.reset()
    for step in range(steps):
        epsilon = max(0.05, 1.0 - step / (0.8 * steps))  # from 1 to 0.05 over 80 % of the budget
        if rng.random() < epsilon:
            action = int(rng.integers(n_actions))
        else:
            action = int(np.argmax(q[state]))
        next_state, reward, terminated, truncated, _ = env.step(action)
        target = reward if terminated else reward + gamma * q[next_state].max()
        q[state, action] += alpha * (target - q[state, action])
        state = next_state
        if terminated or truncated:
            state, _ = env.reset()
    return q.argmax(axis=1)  # (S,)


class BudgetUsedUp(RuntimeError):
    """Raised by the checker's lake when the learner's loop asks for a step beyond the budget."""


class _BudgetLake:
    """The lake as the learner's loop sees it: seeds the first reset, refuses steps beyond the
    budget, and records what the checker's feedback needs (steps, episodes, the pairs tried)."""

    def __init__(self, env: Any, budget: int, seed: int) -> None:
        self.env, self.budget, self.seed = env, budget, seed
        self.steps, self.episodes, self.goals, self.over_budget, self.stepped_after_end = 0, 0, 0, False, False
        self.state, self.ended = None, False
        self.tried: set[tuple[int, int]] = set()  # (state, action) pairs the loop tried

    def __getattr__(self, name: str) -> Any:  # observation_space, action_space, unwrapped, ...
        return getattr(self.env, name)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple:
        obs, info = self.env.reset(seed=self.seed if seed is None and self.episodes == 0 else seed, options=options)
        self.episodes += 1
        self.state, self.ended = obs, False
        return obs, info

    def step(self, action: Any) -> tuple:
        if self.steps >= self.budget:
            self.over_budget = True
            raise BudgetUsedUp(f"the budget of {self.budget} steps is used up")
        self.stepped_after_end |= self.ended
        self.steps += 1
        result = self.env.step(action)
        self.tried.add((self.state, int(action)))
        self.state, self.ended = result[0], bool(result[2] or result[3])
        self.goals += bool(result[1] > 0)  # the only reward is the goal's
        return result


def _rules_matrix(env: Any, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Under ``policy``: (S, S) the chance to move to a state that does not end the episode, (S,) the
    chance to reach the goal in one step, (S,) the start distribution."""
    lake = env.unwrapped
    n = len(lake.P)
    move, goal = np.zeros((n, n)), np.zeros(n)
    for s in range(n):
        for p, s2, r, done in lake.P[s][int(policy[s])]:
            goal[s] += p * r  # the reward is 1 at the goal, 0 elsewhere
            if not done:
                move[s, s2] += p
    return move, goal, np.asarray(lake.initial_state_distrib, dtype=float)


def success_probability(env: Any, policy: np.ndarray, horizon: int = HORIZON) -> float:
    """The exact chance that ``policy`` reaches the goal within ``horizon`` steps, from the lake's rules
    ``env.unwrapped.P``: no evaluation episodes, so no sampling noise."""
    move, goal, start = _rules_matrix(env, policy)
    chance = np.zeros(len(goal))  # (S,) the chance of reaching the goal in the steps left
    for _ in range(horizon):
        chance = goal + move @ chance
    return float(start @ chance)


@functools.cache
def best_success_probability() -> float:
    """The highest chance any policy (even one that changes with the time left) has to reach the goal
    on the slippery lake within the time limit: the bar no learner can clear."""
    env = rl.make_env("FrozenLake-v1", is_slippery=True)
    n_states, n_actions = env.observation_space.n, env.action_space.n
    rules = [_rules_matrix(env, np.full(n_states, a)) for a in range(n_actions)]  # one per action
    chance = np.zeros(n_states)
    for _ in range(HORIZON):
        chance = np.max([goal + move @ chance for move, goal, _ in rules], axis=0)  # the best action, state by state
    return float(rules[0][2] @ chance)


_TRAIN_HINT = (
    "Your loop ran, but its greedy policy does not find the goal. Two things to check: does the agent explore enough "
    "to reach the goal often early on (the message says how often it did), and does each update change the entry "
    "of the state where the agent acted?",
    "Check each piece against the chapter: the exploring coin, the greedy action of the CURRENT state, the target "
    "from the state the agent landed in (with nothing after a terminal one), an update that moves the entry of "
    "the state it left towards that target, and a reset after every ending. Settings that work: alpha about 0.1, "
    "gamma 0.99, epsilon from 1 down to 0.05 over most of the budget.",
)
_LOOP_HINT = (
    "This exercise is about writing the loop yourself, in a function of (env, steps, rng).",
    "Reset the lake, then loop over the steps of the budget: choose an action (at random with probability "
    "epsilon), step, update the table entry of the state the agent acted in, and reset whenever an episode ends.",
)
_ERROR_HINT = (
    "Read the error: which line of your loop raised it?",
    "The lake's reset returns two things (the state and an info dict), its step five (the state, the reward, "
    "terminated, truncated and info); it needs a reset before the first step and takes an int action from 0 to 3.",
)
_NOT_YOURS = routes.forbid_names(
    ("q_learning", "q_learning_update"), "this exercise asks you to write the learning loop and the update yourself"
)


_POLICY_HINT = (
    "Return the greedy policy: one action (an int from 0 to 3) per state, in the order of the states.",
    "After training, the greedy action of a state is the action its row of the table values highest: 16 states, "
    "16 actions. The table itself is not the answer.",
)


def _as_policy(got: Any, n_states: int, n_actions: int) -> tuple[np.ndarray | None, str, Any]:
    """The policy as (S,) ints, or None with what is wrong and the hint for it."""
    kind = non_real(got)
    array = None if kind else to_array(got)
    if array is None:
        return (
            None,
            f"your function returned {kind or fmt(got)}; expected an array of {n_states} actions.",
            _POLICY_HINT,
        )
    if array.shape == (n_states, n_actions):
        return (
            None,
            f"your function returned an array of shape {array.shape}; expected {n_states} actions.",
            (
                "That looks like the table itself.",
                "Return one action per state: the one that the state's row of the table values highest.",
            ),
        )
    if array.shape != (n_states,):
        return (
            None,
            f"your function returned shape {array.shape}; expected ({n_states},), one action per state.",
            _POLICY_HINT,
        )
    if not (
        np.isfinite(array).all() and (array == np.round(array)).all() and array.min() >= 0 and array.max() < n_actions
    ):
        return (
            None,
            f"your policy holds {fmt(array)}; expected whole numbers from 0 to {n_actions - 1}.",
            (
                "An action is an index: 0 (left), 1 (down), 2 (right) or 3 (up).",
                "Return, for each state, the position of the best entry in its row of the table, not the value there.",
            ),
        )
    return array.astype(int), "", ""


def _check_training(name: str, answer: Any, general: tuple[str, ...]) -> Feedback:
    """Run a learner's training loop on the slippery lake, seeded and within the step budget, and
    measure its greedy policy; ``general`` is the hint when no specific diagnosis applies."""
    if not callable(answer):
        return Feedback(name, False, f"expected a function, got {type(answer).__name__} {fmt(answer)}.", _LOOP_HINT)
    refused = _NOT_YOURS(answer)
    if refused:
        return Feedback(name, False, refused, _LOOP_HINT)
    with running.quiet():
        lake = _BudgetLake(rl.make_env("FrozenLake-v1", is_slippery=True), TRAIN_STEPS, SEED)
        lake.action_space.seed(SEED)
    limit = min(8 * running.TIME_LIMIT_S, 15.0)  # training takes longer than one test case

    def attempt() -> Any:
        with warnings.catch_warnings(), np.errstate(all="warn", under="ignore"):
            warnings.simplefilter("ignore")
            result = answer(lake, TRAIN_STEPS, np.random.default_rng(SEED))
            return result, to_array(result)  # converting may run the learner's __array__

    status, result, printed = running.call_limited(attempt, limit)
    said = f" It printed: {running.short(printed)}" if printed.strip() else ""
    if lake.over_budget:
        return Feedback(
            name,
            False,
            f"your loop asked for a step beyond the budget; expected at most {TRAIN_STEPS} calls of env.step." + said,
            (
                "Count every call of env.step and stop when the budget is used up, even in the middle of an episode.",
                "Loop over steps, not over episodes: one loop of `steps` iterations, with a reset inside it "
                "whenever an episode ends.",
            ),
        )
    if status == "timeout":
        return Feedback(
            name,
            False,
            f"your function did not return within {limit:g} s; look for a loop that never ends." + said,
            (
                "A loop over the steps of the budget ends by itself; a loop that waits for an episode to end may not.",
                "Use one loop of `steps` iterations, with a reset inside it whenever an episode ends.",
            ),
        )
    if status == "raised":
        return Feedback(
            name, False, f"your function raised {type(result).__name__}: {running.short(result)}." + said, _ERROR_HINT
        )
    policy, problem, hint = _as_policy(result[0], lake.observation_space.n, lake.action_space.n)
    if policy is None:
        return Feedback(name, False, problem + said, hint)
    chance, best = success_probability(lake, policy), best_success_probability()
    used = (
        f"Your loop took {lake.steps} steps in {lake.episodes} episode{'' if lake.episodes == 1 else 's'} and "
        f"reached the goal {lake.goals} time{'' if lake.goals == 1 else 's'}."
    )
    if chance >= TARGET:
        return Feedback(
            name,
            True,
            f"your greedy policy reaches the goal with probability {chance:.3f} (computed exactly from the lake's "
            f"rules, for episodes of at most {HORIZON} steps); at least {TARGET} was asked, and no policy can "
            f"beat {best:.3f}. {used}",
        )
    message = (
        f"your greedy policy reaches the goal with probability {chance:.3f} (computed exactly from the lake's "
        f"rules); expected at least {TARGET}. {used}" + said
    )
    safe = int(np.isin(lake.unwrapped.desc.ravel(), [b"S", b"F"]).sum()) * lake.action_space.n  # pairs to try
    if lake.steps == 0:
        hint = (
            "Your function never called env.step: the agent has to act to learn.",
            "Reset the lake, then step it in a loop, updating the table after every step.",
        )
    elif lake.stepped_after_end:
        hint = (
            "Your loop kept stepping after an episode had ended.",
            "When a step returns terminated or truncated, reset the lake before the next step: in a hole the "
            "agent is stuck, and nothing more is learned there.",
        )
    elif len(lake.tried) < 0.8 * safe:
        hint = (
            f"Your agent tried only {len(lake.tried)} of the {safe} (state, action) pairs it could have: it "
            "hardly explores.",
            "With all values equal at the start, a greedy agent repeats one action. Act at random with "
            "probability epsilon, large at first (1 is fine), and let it fall during training.",
        )
    elif lake.steps < TRAIN_STEPS // 2:
        hint = (
            f"Your loop used only {lake.steps} of the {TRAIN_STEPS} steps it may take.",
            "Loop over steps, not episodes, and use the whole budget: on slippery ice the agent needs many "
            "tries of each action to learn where it leads on average.",
        )
    else:
        hint = general
    return Feedback(name, False, message, hint)


@checker
def check_train_frozenlake(answer: Any) -> Feedback:
    """Exercise 9.7: ``train_frozenlake(env, steps, rng)`` learns on the slippery lake within the step
    budget and returns its greedy policy; the policy's exact chance of reaching the goal is measured."""
    return _check_training("train_frozenlake", answer, _TRAIN_HINT)


# ----------------------------------------------------------------------------- 9.8 a loop that learns nothing


def solution_fix_q_learning(env: Any, steps: int, rng: np.random.Generator) -> np.ndarray:
    """The notebook's broken loop, fixed: update the entry of the state the agent acted in, THEN move on."""
    alpha, gamma = 0.15, 0.99
    q = np.zeros((16, 4))  # (S, A)
    state, _ = env.reset()
    for step in range(steps):
        epsilon = max(0.05, 1.0 - step / (0.7 * steps))
        if rng.random() < epsilon:
            action = int(rng.integers(4))
        else:
            action = int(np.argmax(q[state]))
        next_state, reward, terminated, truncated, _ = env.step(action)
        target = reward if terminated else reward + gamma * np.max(q[next_state])
        q[state, action] += alpha * (target - q[state, action])
        state = next_state  # the stub did this before the update
        if terminated or truncated:
            state, _ = env.reset()
    return np.argmax(q, axis=1)  # (S,)


@checker
def check_fix_q_learning(answer: Any) -> Feedback:
    """Exercise 9.8: the notebook's Q-learning loop with one bug, fixed; checked like exercise 9.7."""
    return _check_training(
        "fix_q_learning",
        answer,
        (
            "The loop runs, uses its budget and explores, yet its table learns the wrong thing. Run one step by "
            "hand: print the state the agent acted in, and the entry of the table that changed.",
            "Follow the variable `state` through one pass of the loop: at the moment of the update, which state "
            "does it name, and which should it?",
        ),
    )
