"""Checkers and solutions for chapter 10, continued: TD targets that tell a time limit from an ending,
tabular Q-learning trained on the slippery lake within a step budget, and a Q-learning loop with a bug.

Re-exported by :mod:`dlcourse.exercises.ch10`, so that notebooks call ``ch10.check_train_frozenlake``.
"""

from __future__ import annotations

import functools
import types
import warnings
from typing import Any

import numpy as np

from dlcourse import rl
from dlcourse.exercises import core, routes, running
from dlcourse.exercises.compare import fmt, non_real, to_array
from dlcourse.exercises.core import Case, Feedback, Mistake, check_function, watch_solution_calls
from dlcourse.exercises.tracking import checker

KEY_EXPRESSIONS: dict[str, list[str]] = {
    "td_targets_with_truncation": ["1 - terminated", "next_q.max(axis=1)", "~terminated"],
    "train_frozenlake": ["q[next_state].max()", "rng.random() < epsilon", "q[state, action] += alpha"],
    "fix_q_learning": ["q[state, action] += alpha * (target - q[state, action])\n        state = next_state"],
}
"""Fragments of each solution that no first-stage hint may contain (tests/test_exercise_hints.py)."""


def _floats(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float)


# ----------------------------------------------------------------------------- 10.6 a time limit is not an ending


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


_TRUNCATION_MISTAKES = [
    Mistake(lambda r, q, t, tr, g: _targets(r, q, g, 1 - np.maximum(_floats(t), _floats(tr))), (
        "Your targets treat a time limit like a real ending.",
        "When the clock runs out, s' still has a future: the agent could have gone on from there, so its "
        "value belongs in the target. Had the agent taken this step earlier in the episode, would s' be "
        "worth less?",
    )),
    Mistake(lambda r, q, t, tr, g: _targets(r, q, g, 1 - _floats(tr)), (
        "Your targets look at the wrong flag.",
        "Which of the two endings leaves nothing to come after s'? That one, and only that one, removes "
        "the estimate of the future from the target.",
    )),
    Mistake(lambda r, q, t, tr, g: _targets(r, q, g, np.ones(len(_floats(r)))), (
        "Your targets ignore how the episodes ended.",
        "After a terminal state no more rewards can come: there the estimate of the future must vanish.",
    )),
    Mistake(lambda r, q, t, tr, g: _targets(r, q, g, np.maximum(1 - _floats(t), _floats(tr))), (
        "Where a step both terminated and hit the time limit, your target still looks ahead.",
        "A step can be both: the pole fell on the very last allowed step. It still fell, and nothing "
        "follows a fall.",
    )),
    Mistake(lambda r, q, t, tr, g: _floats(r) * (1 - _floats(t)) + g * (1 - _floats(t)) * _floats(q).max(axis=1), (
        "Where the episode terminated your target is 0: you removed the reward as well.",
        "The last reward was still received. Only the estimate of what comes after s' goes.",
    )),
    Mistake(lambda r, q, t, tr, g: _floats(r) + g * (1 - _floats(t)) * _floats(q).mean(axis=1), (
        "Your targets average over the actions in s'.",
        "Q-learning assumes the agent takes the BEST action in s', not an average one.",
    )),
]  # fmt: skip


@checker
def check_td_targets_with_truncation(answer: Any) -> Feedback:
    """Exercise 10.6: ``td_targets_with_truncation(rewards, next_q, terminated, truncated, gamma)``."""

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
        forbid=routes.forbid_names(("rl", "dqn", "dlcourse", "td_target"), "this exercise asks for your own code"),
        hint=(
            "Go through the rows of the failing case one by one and ask, for each: does the agent have a future "
            "after s'?",
            "Two different things can end an episode. One means s' has no future at all; the other only means that "
            "the recording stopped there. Which of them should change the target?",
        ),
        mistakes=_TRUNCATION_MISTAKES,
    )


# ----------------------------------------------------------------------------- 10.7 train an agent on slippery ice

TRAIN_STEPS = 40_000  # the step budget of each run of the learner's loop
TARGET = 0.5  # the mean chance over the runs that the greedy policy reaches the goal (the best policy: about 0.74)
SEEDS = (0, 1, 2)  # one run per seed: it seeds the lake's slips, its spaces and the generator handed to the learner
HORIZON = 100  # FrozenLake-v1's time limit
TRAIN_TIME_LIMIT_S = 15.0  # seconds a run may take; the short first run (a hang shows there) 10 * TIME_LIMIT_S


def solution_train_frozenlake(env: Any, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Tabular Q-learning on the slippery lake (``env``: 16 states, 4 actions) for ``steps`` calls of
    ``env.step``, exploring with ``rng``; returns (S,) the greedy action of every state."""
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


def lake_rules() -> tuple:
    """The slippery lake's rules, read from a FrozenLake-v1 made for this call alone and frozen into
    tuples: ``rules[s][a]`` lists the outcomes ``(p, s', reward, terminated)``."""
    with running.quiet():
        table = rl.make_env("FrozenLake-v1", is_slippery=True).unwrapped.P
    return tuple(
        tuple(tuple((float(p), int(s2), float(r), bool(d)) for p, s2, r, d in table[s][a]) for a in sorted(table[s]))
        for s in sorted(table)
    )


def _lake(rules: tuple, budget: int, seed: int) -> tuple[Any, dict]:
    """The seeded lake the learner's loop sees (reset, step, two spaces; nothing else) and the dict of what it did."""
    from gymnasium.spaces import Discrete

    slips = np.random.default_rng(10_000 + seed).random(budget + 1).tolist()  # few calls per step: fast when watched
    seen = {"steps": 0, "episodes": 0, "goals": 0, "over_budget": False, "after_end": False, "tried": set()}
    now = {"state": None, "clock": 0, "ended": False}
    n_actions = len(rules[0])

    def reset(*, seed: int | None = None, options: dict | None = None) -> tuple:
        seen["episodes"] += 1
        now.update(state=0, clock=0, ended=False)
        return 0, {"prob": 1.0}

    def step(action: Any) -> tuple:
        a, state = int(action), now["state"]
        if state is None or not 0 <= a < n_actions:
            raise ValueError(f"step({action!r}) before any reset" if state is None else f"no action {action!r}")
        if seen["steps"] >= budget:
            seen["over_budget"] = True
            raise RuntimeError(f"the budget of {budget} steps is used up")
        u = slips[seen["steps"]]
        for outcome in rules[state][a]:  # the outcomes' chances add up to 1
            u -= outcome[0]
            if u < 0:
                break
        p, landed, reward, terminated = outcome
        seen["tried"].add((state, a))
        seen["steps"], seen["goals"] = seen["steps"] + 1, seen["goals"] + (reward > 0)  # the only reward: the goal
        seen["after_end"] |= now["ended"]
        truncated = now["clock"] + 1 >= HORIZON
        now["state"], now["clock"], now["ended"] = landed, now["clock"] + 1, terminated or truncated
        return landed, reward, terminated, truncated, {"prob": p}

    lake = types.SimpleNamespace(
        reset=reset, step=step, action_space=Discrete(4, seed=seed), observation_space=Discrete(len(rules), seed=seed)
    )
    return lake, seen


def _rules_matrix(rules: tuple, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Under ``policy``: (S, S) the chance to move to a state that does not end the episode, (S,) the
    chance to reach the goal in one step."""
    n = len(rules)
    move, goal = np.zeros((n, n)), np.zeros(n)
    for s in range(n):
        for p, s2, r, done in rules[s][int(policy[s])]:
            goal[s] += p * r  # the reward is 1 at the goal, 0 elsewhere
            if not done:
                move[s, s2] += p
    return move, goal


def success_probability(rules: tuple, policy: np.ndarray, horizon: int = HORIZON) -> float:
    """The exact chance that ``policy`` reaches the goal from the start (state 0) within ``horizon``
    steps, from the lake's rules: no evaluation episodes, so no sampling noise."""
    move, goal = _rules_matrix(rules, policy)
    chance = np.zeros(len(goal))  # (S,) the chance of reaching the goal in the steps left
    for _ in range(horizon):
        chance = goal + move @ chance
    return float(chance[0])


@functools.cache
def best_success_probability() -> float:
    """The highest chance any policy (even one that changes with the time left) has to reach the goal
    on the slippery lake within the time limit: the bar no learner can clear."""
    rules = lake_rules()
    per_action = [_rules_matrix(rules, np.full(len(rules), a)) for a in range(len(rules[0]))]
    chance = np.zeros(len(rules))
    for _ in range(HORIZON):
        chance = np.max([goal + move @ chance for move, goal in per_action], axis=0)  # the best action, state by state
    return float(chance[0])


_TRAIN_HINT = (
    "Your loop ran, but its greedy policy does not find the goal. Two things to check: does the agent explore enough "
    "to reach the goal often early on (the message says how often it did), and does each update change the entry "
    "of the state where the agent acted?",
    "Check each piece against the chapter: the exploring coin, the greedy action of the CURRENT state, the target "
    "from the state the agent landed in (with nothing after a terminal one), an update that moves the entry of "
    "the state it left towards that target, and a reset after every ending. Settings that work: alpha around 0.1, "
    "gamma 0.99, epsilon from 1 down to 0.05 over most of the budget.",
)
_LOOP_HINT = (
    "This exercise is about writing the loop yourself, in a function of (env, steps, rng), that learns only from "
    "the steps it takes.",
    "Reset the lake, then loop over the steps of the budget: choose an action (at random with probability "
    "epsilon), step, update the table entry of the state the agent acted in, and reset whenever an episode ends.",
)
_ERROR_HINT = (
    "Read the error: which line of your loop raised it?",
    "The lake's reset returns two things (the state and an info dict), its step five (the state, the reward, "
    "terminated, truncated and info); it needs a reset before the first step and takes an int action from 0 to 3.",
)
_NOT_YOURS = routes.forbid_names(
    ("q_learning", "q_learning_update", "value_iteration", "P", "unwrapped", "env", "spec", "make_env", "gymnasium",
     "gym", "__closure__", "__globals__", "cell_contents", "getclosurevars", "inspect", "gc", "lake_rules", "ch10_more"),
    "this exercise asks you to write the learning loop and the update yourself, and to learn only from the steps "
    "the agent takes, not from the lake's rules",
)  # fmt: skip
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
        return None, f"your function returned an array of shape {array.shape}; expected {n_states} actions.", (
            "That looks like the table itself.",
            "Return one action per state: the one that the state's row of the table values highest.",
        )  # fmt: skip
    if array.shape != (n_states,):
        return None, f"your function returned shape {array.shape}; expected ({n_states},), one action per state.", (
            _POLICY_HINT)  # fmt: skip
    if not (np.isfinite(array).all() and (array == np.round(array)).all() and 0 <= array.min() <= array.max() < 4):
        return None, f"your policy holds {fmt(array)}; expected whole numbers from 0 to {n_actions - 1}.", (
            "An action is an index: 0 (left), 1 (down), 2 (right) or 3 (up).",
            "Return, for each state, the position of the best entry in its row of the table, not the value there.",
        )  # fmt: skip
    return array.astype(int), "", ""


def _run_once(name: str, answer: Any, reference: Any, seed: int, budget: int = TRAIN_STEPS) -> tuple[Any, dict]:
    """One run of the learner's loop on a fresh lake: a failing Feedback or None, and what the run did."""
    rules = lake_rules()
    lake, seen = _lake(rules, budget, seed)
    limit = min(10 * running.TIME_LIMIT_S, TRAIN_TIME_LIMIT_S) if budget < TRAIN_STEPS else TRAIN_TIME_LIMIT_S

    def attempt() -> Any:
        with warnings.catch_warnings(), np.errstate(all="warn", under="ignore"):
            warnings.simplefilter("ignore")
            stop = watch_solution_calls(answer, reference) if budget < TRAIN_STEPS else lambda: False  # slows it
            try:
                result = answer(lake, budget, np.random.default_rng(seed))
                return result, to_array(result)  # converting may run the learner's __array__
            finally:
                seen["wrapped"] = stop()

    status, result, printed = running.call_limited(attempt, limit)
    seen["status"] = status
    said = f" It printed: {running.short(printed)}" if printed.strip() else ""
    if seen["over_budget"]:
        message = f"your loop asked for a step beyond the budget; expected at most {budget} calls of env.step."
        return Feedback(name, False, message + said, (
            "Count every call of env.step and stop when the budget is used up, even in the middle of an episode.",
            "Loop over steps, not over episodes: one loop of `steps` iterations, with a reset inside it "
            "whenever an episode ends.",
        )), seen  # fmt: skip
    if status == "timeout":
        return Feedback(name, False, f"your function did not return within {limit:g} s; look for a loop that never "
                        "ends." + said, (
            "A loop over the steps of the budget ends by itself; a loop that waits for an episode to end may not.",
            "Use one loop of `steps` iterations, with a reset inside it whenever an episode ends.",
        )), seen  # fmt: skip
    if status == "raised":
        message = f"your function raised {type(result).__name__}: {running.short(result)}."
        return Feedback(name, False, message + said, _ERROR_HINT), seen
    policy, problem, hint = _as_policy(result[0], len(rules), len(rules[0]))
    if policy is None:
        return Feedback(name, False, problem + said, hint), seen
    if seen["steps"] < budget // 2:
        never = seen["steps"] == 0
        return Feedback(name, False, f"your loop took {seen['steps']} of the {budget} steps it may take; the "
                        f"exercise asks for at least {budget // 2}." + said, (
            "Your function never called env.step: the agent has to act to learn." if never else
            f"Your loop used only {seen['steps']} of the {budget} steps it may take.",
            "Loop over steps, not episodes, and use the whole budget: on slippery ice the agent needs many "
            "tries of each action to learn where it leads on average.",
        )), seen  # fmt: skip
    seen["chance"], seen["said"] = success_probability(rules, policy), said
    return None, seen


def _check_training(name: str, answer: Any, general: tuple[str, ...], reference: Any) -> Feedback:
    """Run the learner's loop once per seed on a fresh lake and score each greedy policy exactly on rules the
    learner never saw (after a short, watched run that spots calls of a solution); ``general``: the hint."""
    if not callable(answer):
        return Feedback(name, False, f"expected a function, got {type(answer).__name__} {fmt(answer)}.", _LOOP_HINT)
    refused = _NOT_YOURS(answer)
    if refused:
        return Feedback(name, False, refused, _LOOP_HINT)
    failed, probe = _run_once(name, answer, reference, SEEDS[0] + 100, TRAIN_STEPS // 20)  # short, watched
    if probe["status"] == "timeout":
        return failed
    runs = []
    for seed in SEEDS:
        failed, seen = _run_once(name, answer, reference, seed)
        if failed is not None:
            return failed
        runs.append(seen)
    chances, first = [run["chance"] for run in runs], runs[0]
    chance, best = float(np.mean(chances)), best_success_probability()
    each = ", ".join(f"{c:.3f}" for c in chances)
    used = (
        f"In the first run your loop took {first['steps']} steps in {first['episodes']} episode"
        f"{'' if first['episodes'] == 1 else 's'} and reached the goal {first['goals']} time{'' if first['goals'] == 1 else 's'}."
    )
    exact = f"computed exactly from the lake's rules, for episodes of at most {HORIZON} steps"
    if chance >= TARGET and probe["wrapped"] and core.REFUSE_WRAPPED_SOLUTIONS:
        return Feedback(name, False, "your function calls the exercise's folded solution; the checker wants your own "
                        "loop.", ("Rewrite your function without it: the exercise is about writing the loop "
                                  "yourself.", *_LOOP_HINT))  # fmt: skip
    if chance >= TARGET:
        return Feedback(name, True, f"over {len(SEEDS)} runs your greedy policies reach the goal with probability "
                        f"{each} ({exact}): {chance:.3f} on average; at least {TARGET} was asked, and no policy can "
                        f"beat {best:.3f}. {used}")  # fmt: skip
    message = (
        f"over {len(SEEDS)} runs your greedy policies reach the goal with probability {each} ({exact}): {chance:.3f} "
        f"on average; expected at least {TARGET}. {used}" + first["said"]
    )
    safe = 10 * 4  # the (state, action) pairs to try: 10 states are neither a hole nor the goal, 4 actions each
    if first["after_end"]:
        hint = (
            "Your loop kept stepping after an episode had ended.",
            "When a step returns terminated or truncated, reset the lake before the next step: in a hole the "
            "agent is stuck, and nothing more is learned there.",
        )
    elif len(first["tried"]) < 0.8 * safe:
        hint = (
            f"Your agent tried only {len(first['tried'])} of the {safe} (state, action) pairs it could have: it "
            "hardly explores.",
            "With all values equal at the start, a greedy agent repeats one action. Act at random with "
            "probability epsilon, large at first (1 is fine), and let it fall during training.",
        )
    else:
        hint = general
    return Feedback(name, False, message, hint)


@checker
def check_train_frozenlake(answer: Any) -> Feedback:
    """Exercise 10.7: ``train_frozenlake(env, steps, rng)`` learns on the slippery lake; returns the greedy policy."""
    return _check_training("train_frozenlake", answer, _TRAIN_HINT, solution_train_frozenlake)


# ----------------------------------------------------------------------------- 10.8 a loop that learns nothing
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
    """Exercise 10.8: the notebook's Q-learning loop with one bug, fixed; checked like exercise 10.7."""
    return _check_training(
        "fix_q_learning",
        answer,
        (
            "The loop runs, uses its budget and explores, yet its table learns the wrong thing. Run one step by "
            "hand: print the state the agent acted in, and the entry of the table that changed.",
            "Follow the variable `state` through one pass of the loop: at the moment of the update, which state "
            "does it name, and which should it?",
        ),
        solution_fix_q_learning,
    )
