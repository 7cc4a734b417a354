"""The argument checks of the reinforcement-learning code, shared by :mod:`dlcourse.rl` and both
trees' DQN modules (indices, probabilities, states, minibatches, TD targets, losses, weights, the
configuration), so that the two trees accept the same input and refuse bad input with the same
sentence. The one-sentence primitives they are built from live in :mod:`dlcourse.validation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from dlcourse.replay import LOSSES, Batch, DQNConfig, check_float32
from dlcourse.validation import (
    LARGEST_COUNT,
    as_count,
    as_finite,
    as_flag,
    as_float_array,
    as_index,
    check_not_empty,
    check_positive,
    check_rng,
    check_shape,
    describe,
    in_unit,
)

__all__ = [
    "as_terminated",
    "check_actions",
    "check_batch",
    "check_config",
    "check_episode_seeds",
    "check_explore",
    "check_greedy_values",
    "check_q_loss",
    "check_q_network",
    "check_q_table",
    "check_q_update",
    "check_state",
    "check_td_target",
    "check_train_envs",
    "discrete_actions",
]


def check_q_network(obs_dim: int, n_actions: int, hidden: Any, rng: Any, name: str = "hidden") -> list[int]:
    """The layer widths [D, *hidden, A] of a Q-network, after checking its arguments (rng None: not checked)."""
    if not isinstance(hidden, (tuple, list)):  # an iterator would be used up by this check
        raise TypeError(f"{name} must be a tuple or list of layer widths such as (256, 256), got {describe(hidden)}.")
    if rng is not None:
        check_rng(rng)
    return [as_count(obs_dim, "obs_dim"), *(as_count(h, name) for h in hidden), as_count(n_actions, "n_actions")]


def check_actions(actions: Any, n_actions: int, n: int, name: str = "actions", numpy: bool = True) -> Any:
    """(n,) integer actions in [0, n_actions): a NumPy array (with ``numpy``; else a tensor stays one)."""
    if numpy or not hasattr(actions, "dtype"):
        try:
            actions = np.asarray(actions)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{name} must be an array of integer actions, got {type(actions).__name__}.") from None
    dtype = actions.dtype
    if not (dtype.kind in "iu" if isinstance(dtype, np.dtype) else str(dtype).startswith(("torch.int", "torch.uint"))):
        raise ValueError(f"{name} must hold integers in [0, {n_actions}), got dtype {dtype}.")
    check_shape(actions, name, (n,))
    if n and (actions.min() < 0 or actions.max() >= n_actions):
        low, high = int(actions.min()), int(actions.max())
        raise ValueError(f"{name} must hold integers in [0, {n_actions}), got values from {low} to {high}.")
    return actions


def as_terminated(terminated: Any, name: str, n: int, to_array: Callable) -> Any:
    """(n,) flags, 1 (or True) where s' ended the episode, else 0, as floats."""
    terminated = to_array(terminated, name)
    check_shape(terminated, name, (n,))
    if not ((terminated == 0) | (terminated == 1)).all():
        raise ValueError(f"{name} must hold 0 or 1 (False or True) for every transition.")
    return terminated


def check_batch(batch: Any, obs_dim: int, n_actions: int) -> Batch:
    """A minibatch for an update: a :class:`Batch` (or five arrays in its order) of N transitions,
    NumPy arrays without NaN, actions in [0, n_actions)."""
    if not isinstance(batch, tuple) or len(batch) != len(Batch._fields):
        raise TypeError(
            f"batch must be a Batch of five arrays, as ReplayBuffer.sample returns, got {type(batch).__name__}."
        )
    obs = as_float_array(batch[0], "batch.obs", allow_nan=False)
    check_shape(obs, "batch.obs", (None, obs_dim))
    check_not_empty(obs, "batch.obs")
    n = len(obs)
    actions = check_actions(batch[1], n_actions, n, "batch.actions")
    rewards = as_float_array(batch[2], "batch.rewards", allow_nan=False)
    check_shape(rewards, "batch.rewards", (n,))
    next_obs = as_float_array(batch[3], "batch.next_obs", allow_nan=False)
    check_shape(next_obs, "batch.next_obs", (n, obs_dim))
    for name, values in (("batch.obs", obs), ("batch.rewards", rewards), ("batch.next_obs", next_obs)):
        check_float32(values, name)  # the torch tree computes in float32: infinity would give a NaN loss
    return Batch(obs, actions, rewards, next_obs, as_terminated(batch[4], "batch.terminated", n, as_float_array))


def check_td_target(
    rewards: Any, next_q: Any, terminated: Any, gamma: Any, next_q_online: Any, to_array: Callable
) -> tuple:
    """The arguments of ``td_target`` in either tree, converted with ``to_array``: next_q (N, A) with
    A >= 1, rewards (N,), terminated (N,) of 0 and 1, gamma in [0, 1], next_q_online (N, A) without NaN."""
    next_q = to_array(next_q, "next_q")
    check_shape(next_q, "next_q", (None, None))
    n = next_q.shape[0]
    if next_q.shape[1] == 0:
        raise ValueError(f"next_q must have at least one action (column), got shape {tuple(next_q.shape)}.")
    rewards = to_array(rewards, "rewards")
    check_shape(rewards, "rewards", (n,))
    terminated = as_terminated(terminated, "terminated", n, to_array)
    if next_q_online is not None:  # NaN would make argmax pick an arbitrary action
        next_q_online = to_array(next_q_online, "next_q_online", allow_nan=False)
        check_shape(next_q_online, "next_q_online", tuple(next_q.shape))
    return rewards, next_q, terminated, in_unit(gamma, "gamma"), next_q_online


def check_q_loss(q_values: Any, actions: Any, targets: Any, kind: Any, to_array: Callable, numpy: bool = True) -> tuple:
    """The arguments of ``q_loss_forward`` in either tree: q_values (N, A), actions (N,) in [0, A),
    targets (N,), a known loss ``kind``."""
    q_values = to_array(q_values, "q_values")
    check_shape(q_values, "q_values", (None, None))
    check_not_empty(q_values, "q_values")
    n, a = q_values.shape
    actions = check_actions(actions, a, n, numpy=numpy)
    targets = to_array(targets, "targets")
    check_shape(targets, "targets", (n,))
    if not isinstance(kind, str) or kind not in LOSSES:
        raise ValueError(f"kind must be one of {LOSSES}, got {describe(kind)}.")
    return q_values, actions, targets


def check_state(state: Any, shapes: Mapping[str, tuple], to_array: Callable) -> dict:
    """Weights for ``load_state_dict`` in either tree: a dict with exactly the network's keys, each a
    float array (or tensor) of the parameter's shape without NaN, converted with ``to_array``."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a dict of weights, as state_dict() returns, got {type(state).__name__}.")
    missing, unknown = [k for k in shapes if k not in state], [k for k in state if k not in shapes]
    if missing or unknown:
        which = f"no {missing[0]!r}" if missing else f"an unknown key {describe(unknown[0])}"
        raise ValueError(f"state must hold the network's weights, as state_dict() returns them, but it has {which}.")
    out = {}
    for key, shape in shapes.items():
        out[key] = to_array(state[key], f"state[{key!r}]", allow_nan=False)
        check_shape(out[key], f"state[{key!r}]", tuple(shape))
    return out


def check_config(config: Any, name: str = "config") -> DQNConfig:
    """A :class:`DQNConfig` (its defaults for None) whose every field is in range: counts, rates,
    probabilities, a known loss."""
    config = DQNConfig() if config is None else config
    if not isinstance(config, DQNConfig):
        raise TypeError(f"{name} must be a DQNConfig (or None for the defaults), got {type(config).__name__}.")
    for field in ("batch_size", "buffer_size", "train_every", "gradient_steps", "target_update_every"):
        as_count(getattr(config, field), f"{name}.{field}")
    as_count(config.learning_starts, f"{name}.learning_starts", minimum=0)
    check_q_network(1, 1, config.hidden, None, f"{name}.hidden")  # a tuple or a list
    check_positive(config.lr, f"{name}.lr")
    for field in ("gamma", "epsilon_start", "epsilon_end"):
        in_unit(getattr(config, field), f"{name}.{field}")
    in_unit(config.exploration_fraction, f"{name}.exploration_fraction", open_low=True)
    if config.max_grad_norm is not None:
        check_positive(config.max_grad_norm, f"{name}.max_grad_norm")
    as_flag(config.double, f"{name}.double")
    if not isinstance(config.loss, str) or config.loss not in LOSSES:
        raise ValueError(f"{name}.loss must be one of {LOSSES}, got {describe(config.loss)}.")
    return replace(config, hidden=tuple(config.hidden)) if isinstance(config.hidden, list) else config


def check_explore(q_values: Any, epsilon: Any, rng: Any) -> tuple[np.ndarray, float]:
    """The arguments of :func:`epsilon_greedy`: NaN is refused, since no action would be the highest."""
    epsilon, _ = in_unit(epsilon, "epsilon"), check_rng(rng)
    q_values = as_float_array(q_values, "q_values")
    if q_values.ndim != 1 or len(q_values) == 0:
        raise ValueError(f"q_values must have shape (A,) with A >= 1 actions, got {q_values.shape}.")
    if np.isnan(q_values).any():
        raise ValueError("q_values contains NaN; no action would count as the highest.")
    return q_values, epsilon


def check_q_table(q: Any, shape: tuple[int | None, ...] = (None, None)) -> np.ndarray:
    """A Q-table: a float NumPy array (updated in place, so never a copy) of ``shape``."""
    if not isinstance(q, np.ndarray) or q.dtype.kind != "f":
        what = f"dtype {q.dtype}" if isinstance(q, np.ndarray) else type(q).__name__
        raise TypeError(f"q must be a NumPy array of floats (the table is updated in place), got {what}.")
    check_shape(q, "q", shape)
    if not q.flags.writeable:
        raise ValueError("q must be a writeable array (the table is updated in place), got a read-only one.")
    return q


def check_q_update(
    q: Any, state: Any, action: Any, reward: Any, next_state: Any, terminated: Any, alpha: Any, gamma: Any
) -> tuple:
    """The arguments of :func:`q_learning_update`: indices into the table ``q``, never wrapped; finite
    entries where the update reads (NaN or infinity would spread)."""
    n_states, n_actions = check_q_table(q).shape
    state, action = as_index(state, "state", n_states), as_index(action, "action", n_actions)
    next_state, terminated = as_index(next_state, "next_state", n_states), as_flag(terminated, "terminated")
    if not np.isfinite(q[state, action]) or (not terminated and not np.isfinite(q[next_state]).all()):
        raise ValueError(f"q must be finite in Q[{state}, {action}] and Q[{next_state}], which the update reads.")
    alpha, gamma = in_unit(alpha, "alpha", open_low=True), in_unit(gamma, "gamma")
    return state, action, as_finite(reward, "reward"), next_state, terminated, alpha, gamma


# ----------------------------------------------------------------------------- environments and episodes


def discrete_actions(env: Any, name: str = "env", n: int | None = None, required: bool = True) -> int | None:
    """The number of actions of ``env``, whose action space must be a ``gymnasium.spaces.Discrete``
    of actions 0, 1, ..., equal to ``n`` when given; None for other spaces when not ``required``."""
    from gymnasium.spaces import Discrete

    space = getattr(env, "action_space", None)
    if not isinstance(space, Discrete) or int(space.start) != 0:
        if not required:
            return None
        raise TypeError(
            f"{name} must have discrete actions 0, 1, ..., (a Discrete action space), as CartPole-v1 has, "
            f"got {describe(space)}."
        )
    if n is not None and int(space.n) != n:
        raise ValueError(f"{name} must have {n} actions, as the agent has (n_actions), got {int(space.n)}.")
    return int(space.n)


def check_episode_seeds(seed: Any, episodes: Any) -> tuple[int, int]:
    """``episodes`` and ``seed`` of :func:`dlcourse.rl.evaluate`: episode i is reset with seed + i, so the
    last seed, seed + episodes - 1, must be a valid seed too."""
    episodes, seed = as_count(episodes, "episodes"), as_count(seed, "seed", minimum=0)
    if seed > LARGEST_COUNT - (episodes - 1):
        raise ValueError(
            f"seed must be at most {LARGEST_COUNT} - (episodes - 1) = {LARGEST_COUNT - episodes + 1}, since episode "
            f"i is reset with seed + i, got seed={seed} with episodes={episodes}."
        )
    return seed, episodes


def check_greedy_values(q_values: np.ndarray) -> np.ndarray:
    """The Q-values an agent acts on in a state ``obs``: NaN (a network that overflows on a huge state)
    would leave no highest action."""
    if np.isnan(q_values).any():
        raise ValueError("obs gives NaN Q-values (the network overflowed on it); no action would count as the highest.")
    return q_values


def check_train_envs(agent: Any, env: Any, eval_env: Any, eval_every: int) -> int:
    """The environments of :func:`dlcourse.rl.train_dqn`: vector states of one length D (returned),
    the agent's number of actions; an ``eval_env`` whenever ``eval_every`` asks for evaluations."""
    if eval_every and eval_env is None:
        raise ValueError(
            f"eval_every={eval_every} asks for evaluations, which need an eval_env; pass one, or eval_every=0."
        )
    n_actions = getattr(agent, "n_actions", None)
    n_actions = n_actions if isinstance(n_actions, int) else None
    shape = None
    for name, e in (("env", env), ("eval_env", eval_env)) if eval_env is not None else (("env", env),):
        space = getattr(getattr(e, "observation_space", None), "shape", None)
        if not space or len(space) != 1:
            raise TypeError(
                f"{name} must have states that are vectors (an observation space of shape (D,)), as CartPole-v1."
            )
        if shape is not None and tuple(space) != shape:
            raise ValueError(f"{name} must have states of shape {shape}, as env has, got {tuple(space)}.")
        shape = tuple(space)
        discrete_actions(e, name, n_actions)
    return shape[0]
