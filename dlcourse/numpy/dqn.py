r"""Deep Q-learning (DQN) in NumPy: a Q-network from the package's own layers, trained by hand.

A table of action values :math:`Q(s, a)` needs one entry per state; a **Q-network** replaces
it with a function of the state vector: input :math:`s` of length D, output the A action
values :math:`Q(s, \cdot)`. It is trained towards the **TD target**

.. math:: y = r + \gamma\,(1 - \text{terminated}) \max_{a'} Q_{\text{target}}(s', a'),

with a loss on the chosen action only, :math:`L = \frac{1}{N} \sum_n \ell(Q(s_n, a_n) - y_n)`,
where :math:`\ell` is the Huber function (quadratic for errors below 1, linear above) or the
square. :math:`Q_{\text{target}}` is a **target network**: a copy of the online network that
is refreshed only every few updates, so that the target does not move with every step.
Minibatches come from a replay buffer (:class:`dlcourse.rl.ReplayBuffer`) and the training
loop is :func:`dlcourse.rl.train_dqn`.

Mirrored by :mod:`dlcourse.torch.dqn`.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from dlcourse.numpy import layers as L
from dlcourse.numpy import optim
from dlcourse.replay import as_obs
from dlcourse.rl import Batch, DQNConfig, epsilon_greedy
from dlcourse.rl_checks import (
    check_batch,
    check_config,
    check_greedy_values,
    check_q_loss,
    check_q_network,
    check_state,
    check_td_target,
)
from dlcourse.validation import as_count, as_float_array, as_real, check_rng, describe

__all__ = ["DQNAgent", "q_loss_backward", "q_loss_forward", "q_network", "td_target"]


def q_network(obs_dim: int, n_actions: int, hidden: Sequence[int], rng: np.random.Generator) -> L.Sequential:
    """An MLP from a state vector to one value per action: Linear, ReLU, ..., Linear (He initialised).

    Args:
        obs_dim: D, the length of a state vector.
        n_actions: A, the number of actions.
        hidden: the widths of the hidden layers, e.g. ``(256, 256)``.
        rng: the generator the weights are drawn from.

    Returns:
        A :class:`~dlcourse.numpy.layers.Sequential` mapping (N, D) to (N, A).
    """
    sizes = check_q_network(obs_dim, n_actions, hidden, rng)  # [D, *hidden, A]
    layers: list[L.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(L.Linear(fan_in, fan_out, rng))
        if i < len(sizes) - 2:
            layers.append(L.ReLU())
    return L.Sequential(*layers)


def td_target(
    rewards: np.ndarray,
    next_q: np.ndarray,
    terminated: np.ndarray,
    gamma: float,
    next_q_online: np.ndarray | None = None,
    *,
    check: bool = True,
) -> np.ndarray:
    r"""The TD targets :math:`y = r + \gamma (1 - \text{terminated})\, Q_{\text{target}}(s', a^*)`.

    DQN takes :math:`a^* = \arg\max_{a'} Q_{\text{target}}(s', a')`. Double DQN (pass
    ``next_q_online``) lets the online network choose, :math:`a^* = \arg\max_{a'} Q(s', a')`,
    and the target network value that choice, which curbs the max's upward bias.

    Args:
        rewards: (N,) rewards r.
        next_q: (N, A) the target network's values of the next states s'.
        terminated: (N,) 1 (or True) where s' ended the episode: nothing is bootstrapped from it.
        gamma: the discount factor.
        next_q_online: (N, A) the online network's values of s', for Double DQN.
        check: check the arguments (the default); :meth:`DQNAgent.update` checks its batch once and skips it.

    Returns:
        (N,) the targets y.
    """
    if check:
        rewards, next_q, terminated, gamma, next_q_online = check_td_target(
            rewards, next_q, terminated, gamma, next_q_online, as_float_array
        )
    n = next_q.shape[0]
    if next_q_online is None:
        best = next_q.max(axis=1)  # (N,)
    else:
        best = next_q[np.arange(n), np.argmax(next_q_online, axis=1)]  # (N,)
    return rewards + gamma * (1 - np.asarray(terminated, dtype=next_q.dtype)) * best


def q_loss_forward(
    q_values: np.ndarray, actions: np.ndarray, targets: np.ndarray, kind: str = "huber", *, check: bool = True
) -> tuple[float, tuple]:
    r"""The loss between the values of the chosen actions and their TD targets, averaged over the batch.

    With :math:`d_n = Q(s_n, a_n) - y_n`: Huber (smooth L1, as ``torch.nn.functional.smooth_l1_loss``)
    :math:`\ell(d) = \tfrac12 d^2` for :math:`|d| \le 1`, else :math:`|d| - \tfrac12`; or the
    square, :math:`\ell(d) = d^2` (``mse_loss``). The other actions' values get no gradient:
    we have no target for actions that were not taken.

    Args:
        q_values: (N, A) the online network's output for the states s.
        actions: (N,) integer actions a, in [0, A).
        targets: (N,) TD targets y (treated as constants).
        kind: ``"huber"`` or ``"mse"``.
        check: check the arguments (the default); :meth:`DQNAgent.update` checks its batch once and skips it.

    Returns:
        The loss and ``cache = (diff, actions, q_values.shape, kind)``, diff (N,).
    """
    if check:
        q_values, actions, targets = check_q_loss(q_values, actions, targets, kind, as_float_array)
    n = q_values.shape[0]
    diff = q_values[np.arange(n), actions] - targets  # (N,)
    if kind == "huber":
        small = np.abs(diff) <= 1.0
        per_item = np.where(small, 0.5 * diff * diff, np.abs(diff) - 0.5)  # (N,)
    else:
        per_item = diff * diff
    return float(per_item.mean()), (diff, actions, q_values.shape, kind)


def q_loss_backward(dout: float, cache: tuple) -> np.ndarray:
    r"""Gradient of :func:`q_loss_forward` with respect to ``q_values``.

    Only the chosen action of each row gets a gradient: :math:`\ell'(d_n)/N`, with
    :math:`\ell'(d) = \mathrm{clip}(d, -1, 1)` for Huber and :math:`2d` for the square.

    Args:
        dout: the upstream gradient (1.0 for the loss itself).
        cache: from :func:`q_loss_forward`.

    Returns:
        (N, A) the gradient; zero except at ``[n, actions[n]]``.
    """
    diff, actions, shape, kind = cache
    n, dout = shape[0], as_real(dout, "dout")
    slope = np.clip(diff, -1.0, 1.0) if kind == "huber" else 2.0 * diff  # (N,)
    dq = np.zeros(shape, dtype=diff.dtype)  # (N, A)
    dq[np.arange(n), actions] = slope * (float(dout) / max(n, 1))
    return dq


class DQNAgent:
    """A DQN agent: online Q-network, target network, Adam, epsilon-greedy actions.

    Both trees build the network from the same generator, so a NumPy agent and a PyTorch
    agent created with equal seeds start with identical weights and explore identically.

    Args:
        obs_dim: D, the length of a state vector.
        n_actions: A.
        rng: draws the weights, then the exploration.
        config: the hyperparameters (:class:`dlcourse.rl.DQNConfig`); its defaults if None.
        device: where the networks live; the NumPy tree runs on the CPU only, so it accepts
            None or the CPU, named as the torch tree names it (``"cpu"``, ``"cpu:0"``,
            ``torch.device("cpu")``); the argument exists so that both trees take the same ones.
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        rng: np.random.Generator,
        config: DQNConfig | None = None,
        device: str | None = None,
    ) -> None:
        if device is not None:
            _check_cpu(device)
        self.config = check_config(config)  # DQNConfig() for None
        self.obs_dim, self.n_actions = as_count(obs_dim, "obs_dim"), as_count(n_actions, "n_actions")
        self.rng = check_rng(rng)
        self.q = q_network(self.obs_dim, self.n_actions, self.config.hidden, rng)
        self.target = copy.deepcopy(self.q)  # the same weights, refreshed by sync_target()
        self.optimizer = optim.Adam(self.q.parameters(), lr=self.config.lr)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """The online network's action values: (D,) -> (A,), or (N, D) -> (N, A)."""
        obs = as_obs(obs, self.obs_dim)  # float32
        return self.q(obs.reshape(-1, self.obs_dim)).reshape(*obs.shape[:-1], self.n_actions)

    def greedy(self, obs: np.ndarray) -> int:
        """The action with the highest value in state ``obs`` (D,)."""
        return int(np.argmax(check_greedy_values(self.q_values(as_obs(obs, self.obs_dim, single=True)))))

    def act(self, obs: np.ndarray, epsilon: float) -> int:
        """An epsilon-greedy action in state ``obs`` (D,), drawn with the agent's generator."""
        q_values = check_greedy_values(self.q_values(as_obs(obs, self.obs_dim, single=True)))
        return epsilon_greedy(q_values, epsilon, self.rng)

    def update(self, batch: Batch) -> float:
        """One gradient step on a minibatch of transitions; returns the loss before the step."""
        cfg, batch = self.config, check_batch(batch, self.obs_dim, self.n_actions)
        next_q = self.target(batch.next_obs)  # (B, A)
        next_online = self.q(batch.next_obs) if cfg.double else None  # (B, A); before the forward we keep
        targets = td_target(batch.rewards, next_q, batch.terminated, cfg.gamma, next_online, check=False)  # (B,)
        q = self.q(batch.obs)  # (B, A), the layers keep their caches for backward
        loss, cache = q_loss_forward(q, batch.actions, targets, cfg.loss, check=False)
        self.optimizer.zero_grad()
        self.q.backward(q_loss_backward(1.0, cache))
        if cfg.max_grad_norm is not None:
            optim.clip_grad_norm(self.q.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        return loss

    def sync_target(self) -> None:
        """Copy the online network's weights into the target network."""
        self.target.load_state_dict(self.q.state_dict())

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the online network's weights."""
        return self.q.state_dict()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Load weights into the online and the target network."""
        shapes = {name: p.shape for name, p in self.q.named_parameters()}
        self.q.load_state_dict(check_state(state, shapes, as_float_array))
        self.sync_target()


# The device types torch.device knows, so that both trees refuse the same names.
_DEVICE_TYPES = (
    "cpu|cuda|ipu|xpu|mkldnn|opengl|opencl|ideep|hip|ve|fpga|maia|xla|lazy|vulkan|mps|meta|hpu|mtia|privateuseone"
)


def _check_cpu(device: Any) -> None:
    """The CPU, however the torch tree would name it: ``"cpu"``, ``"cpu:0"`` or a ``torch.device`` of
    type cpu (recognised without importing torch: a user who holds one has imported it)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(device, torch.device):
        kind, index = device.type, device.index
    elif isinstance(device, str):
        match = re.fullmatch(rf"({_DEVICE_TYPES})(?::(0|[1-9][0-9]*))?", device)
        if match is None:
            raise ValueError(f"device must name a device such as 'cpu', 'cuda' or 'mps', got {describe(device)}.")
        kind, index = match[1], None if match[2] is None else int(match[2])
    else:
        raise TypeError(
            f"device must be None, a name such as 'cpu' or 'cuda', or a torch.device, got {describe(device)}."
        )
    if kind != "cpu" or (index or 0) != 0:
        raise ValueError(
            f"device {describe(str(device))} is not available to the NumPy tree, which runs on the CPU only."
        )
