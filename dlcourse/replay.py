r"""The replay buffer of DQN: transitions kept in a ring of NumPy arrays, sampled in minibatches.

Learning from consecutive steps of one episode would feed the network strongly correlated
examples; a replay buffer stores the last ``capacity`` transitions :math:`(s, a, r, s', \text{done})`
and samples minibatches from all of them at random, so each update sees a mix of old and new
experience. Both trees' DQN agents train on the minibatches (:class:`Batch`) it returns (NumPy arrays,
moved to a device by the PyTorch agent). :mod:`dlcourse.rl` re-exports both names.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dlcourse.validation import check_positive, check_shape

__all__ = ["Batch", "ReplayBuffer"]


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
        check_positive(capacity, "capacity")
        check_positive(obs_dim, "obs_dim")
        self.capacity, self.obs_dim, self.rng = int(capacity), int(obs_dim), rng
        self.obs = np.zeros((self.capacity, self.obs_dim), dtype=np.float32)  # (capacity, D)
        self.next_obs = np.zeros((self.capacity, self.obs_dim), dtype=np.float32)  # (capacity, D)
        self.actions = np.zeros(self.capacity, dtype=np.int64)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.float32)
        self.position = 0  # where the next transition goes
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        """Store one transition, overwriting the oldest when the buffer is full.

        Args:
            obs: (D,) the state s.
            action: a.
            reward: r.
            next_obs: (D,) the next state s'.
            terminated: whether s' ended the episode (True bootstraps nothing from s').
        """
        check_shape(np.asarray(obs), "obs", (self.obs_dim,))
        check_shape(np.asarray(next_obs), "next_obs", (self.obs_dim,))
        i = self.position
        self.obs[i], self.next_obs[i] = obs, next_obs
        self.actions[i], self.rewards[i], self.terminated[i] = action, reward, float(terminated)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> Batch:
        """``batch_size`` stored transitions drawn uniformly at random, with replacement."""
        check_positive(batch_size, "batch_size")
        if self.size == 0:
            raise ValueError("the replay buffer is empty; add transitions before sampling.")
        idx = self.rng.integers(0, self.size, size=batch_size)  # (B,)
        return Batch(self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminated[idx])

    def states(self) -> np.ndarray:
        """(size, D) every stored state s (a view, in storage order)."""
        return self.obs[: self.size]
