r"""The replay buffer of DQN: transitions kept in a ring of NumPy arrays, sampled in minibatches.

Learning from consecutive steps of one episode would feed the network strongly correlated
examples; a replay buffer stores the last ``capacity`` transitions :math:`(s, a, r, s', \text{done})`
and samples minibatches from all of them at random, so each update sees a mix of old and new
experience. Both trees' DQN agents train on the minibatches (:class:`Batch`) it returns (NumPy arrays,
moved to a device by the PyTorch agent), with the hyperparameters of :class:`DQNConfig`.
:mod:`dlcourse.rl` re-exports the three names.

The checks that :mod:`dlcourse.rl` and both trees' DQN modules share live in
:mod:`dlcourse.rl_checks`; :func:`as_obs`, the check of a state, is here, where the buffer stores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from dlcourse.validation import (
    as_count,
    as_finite,
    as_flag,
    as_float_array,
    as_index,
    check_allocation,
    check_rng,
)

__all__ = ["Batch", "DQNConfig", "ReplayBuffer"]

LOSSES = ("huber", "mse")  # the losses of DQN's update, in both trees


class Batch(NamedTuple):
    """A minibatch of transitions, NumPy arrays.

    Attributes:
        obs: (B, D) float32 states s.
        actions: (B,) int64 actions a.
        rewards: (B,) float32 rewards r.
        next_obs: (B, D) float32 next states s'.
        terminated: (B,) float32, 1.0 where s' ended the episode.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray


@dataclass
class DQNConfig:
    """Hyperparameters of DQN; the defaults are RL Baselines3 Zoo's tuned values for CartPole-v1.

    One translation: the Zoo's ``target_update_interval=10`` counts environment steps, and
    since its updates come in bursts of 128 every 256 steps, it amounts to one copy of the
    online network per burst; here the interval counts gradient steps, so that is 128. (Read
    as 10 gradient steps, the same recipe made the Q-values diverge in our tests.)

    Attributes:
        hidden: the widths of the Q-network's hidden layers.
        lr: Adam's learning rate.
        batch_size: transitions per gradient step.
        buffer_size: the replay buffer's capacity.
        learning_starts: environment steps of pure collection before the first update.
        gamma: the discount factor.
        train_every: environment steps between two bursts of updates.
        gradient_steps: gradient steps per burst.
        target_update_every: gradient steps between two copies of the online network into the target.
        epsilon_start: exploration at step 0.
        epsilon_end: exploration after the schedule.
        exploration_fraction: the share of training over which epsilon falls.
        loss: ``"huber"`` (smooth L1, as in the DQN paper's clipped error) or ``"mse"``.
        max_grad_norm: rescale the gradient when its norm (over all parameters) exceeds this; None: never.
        double: Double DQN: the online network picks the next action, the target network values it.
    """

    hidden: tuple[int, ...] = (256, 256)  # two hidden layers of 256 ReLU units
    lr: float = 2.3e-3  # Adam
    batch_size: int = 64  # transitions per gradient step
    buffer_size: int = 100_000  # more than any run here collects: nothing is forgotten
    learning_starts: int = 1000  # random-ish collection first
    gamma: float = 0.99  # rewards 100 steps away still count about a third
    train_every: int = 256  # environment steps between bursts of updates
    gradient_steps: int = 128  # updates per burst
    target_update_every: int = 128  # gradient steps between target copies: once per burst
    epsilon_start: float = 1.0  # act at random at first
    epsilon_end: float = 0.04  # a little exploration forever
    exploration_fraction: float = 0.16  # epsilon reaches its end after 16 % of training
    loss: str = "huber"  # or "mse"
    max_grad_norm: float | None = 10.0  # gradient-norm clipping, as Stable-Baselines3's DQN
    double: bool = False  # Double DQN targets


class ReplayBuffer:
    """A fixed-size memory of transitions (s, a, r, s', terminated), sampled uniformly.

    Training on consecutive steps would feed the network highly correlated examples, and
    forget old experience as fast as it learns new. The buffer keeps the last ``capacity``
    transitions (the oldest is overwritten first) and hands out random minibatches of them,
    so every update mixes old and new experience, and every transition is reused many times.

    Args:
        capacity: the most transitions kept.
        obs_dim: D, the length of a state vector.
        rng: the generator minibatches are drawn from.
    """

    def __init__(self, capacity: int, obs_dim: int, rng: np.random.Generator) -> None:
        self.capacity, self.obs_dim = as_count(capacity, "capacity"), as_count(obs_dim, "obs_dim")
        self.rng = check_rng(rng)
        check_allocation((self.capacity, self.obs_dim), "the replay buffer")
        self.obs = np.zeros((self.capacity, self.obs_dim), dtype=np.float32)  # (capacity, D)
        self.next_obs = np.zeros((self.capacity, self.obs_dim), dtype=np.float32)  # (capacity, D)
        self.actions = np.zeros(self.capacity, dtype=np.int64)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.float32)
        self.position = 0  # where the next transition goes
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(
        self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool, *, check: bool = True
    ) -> None:
        """Store one transition, overwriting the oldest when the buffer is full.

        Args:
            obs: (D,) the state s.
            action: a.
            reward: r.
            next_obs: (D,) the next state s'.
            terminated: whether s' ended the episode (True bootstraps nothing from s').
            check: check the arguments (the default); :func:`dlcourse.rl.train_dqn`, which checked
                its environment's observation space once, stores what the environment returns without it.
        """
        if check:
            obs, next_obs = as_obs(obs, self.obs_dim, single=True), as_obs(next_obs, self.obs_dim, "next_obs", True)
            action, reward = as_index(action, "action"), as_reward(reward)
            terminated = as_flag(terminated, "terminated")
        i = self.position
        self.obs[i], self.next_obs[i] = obs, next_obs
        self.actions[i], self.rewards[i], self.terminated[i] = action, reward, float(terminated)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> Batch:
        """``batch_size`` stored transitions drawn uniformly at random, with replacement."""
        batch_size = as_count(batch_size, "batch_size")
        check_allocation((batch_size, self.obs_dim), "the minibatch")
        if self.size == 0:
            raise ValueError("the replay buffer is empty; add transitions before sampling.")
        idx = self.rng.integers(0, self.size, size=batch_size)  # (B,)
        return Batch(self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminated[idx])

    def states(self) -> np.ndarray:
        """(size, D) every stored state s (a view, in storage order)."""
        return self.obs[: self.size]


# ----------------------------------------------------------------------------- checks shared by rl and the DQN trees


def as_obs(obs: Any, obs_dim: int, name: str = "obs", single: bool = False) -> np.ndarray:
    """States as float32: one finite (D,) state (``single``: an action is chosen from it, or it is
    stored), else (D,) or (N, D)."""
    obs = as_float_array(obs, name)  # the checks below are the quick ones: an agent acts on every step
    if single and obs.shape != (obs_dim,):
        raise ValueError(f"{name} must have shape ({obs_dim},), got {tuple(obs.shape)}.")
    if obs.ndim not in (1, 2) or obs.shape[-1] != obs_dim:
        raise ValueError(f"{name} must have shape ({obs_dim},) or (N, {obs_dim}), got {tuple(obs.shape)}.")
    if single:
        check_float32(obs, name)
    return obs.astype(np.float32, copy=False)


FLOAT32_MAX = float(np.finfo(np.float32).max)  # states and rewards are stored, and learned from, in float32


def check_float32(values: Any, name: str) -> None:
    """Refuse NaN, infinity, and finite numbers that float32 would turn into infinity."""
    if values.dtype != np.float32 or not np.isfinite(values).all():
        fits = np.abs(values) <= FLOAT32_MAX  # False for NaN and infinity too
        if not fits.all():
            bad, infinite = int((~fits).sum()), int((~np.isfinite(values)).sum())
            if infinite:
                raise ValueError(f"{name} must hold finite numbers, got NaN or infinity at {infinite} position(s).")
            raise ValueError(
                f"{name} must hold numbers that fit in float32 (at most {FLOAT32_MAX:.4g} in size), "
                f"got larger ones at {bad} position(s)."
            )


def as_reward(reward: Any, name: str = "reward") -> float:
    """A reward: a finite number that fits in float32, where the buffer stores it."""
    number = as_finite(reward, name)
    if abs(number) > FLOAT32_MAX:
        raise ValueError(f"{name} must fit in float32 (at most {FLOAT32_MAX:.4g} in size), got {number:.4g}.")
    return number
