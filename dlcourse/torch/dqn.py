r"""Deep Q-learning (DQN) in PyTorch, mirroring :mod:`dlcourse.numpy.dqn`.

The same network (built from :mod:`dlcourse.torch.layers`, weights drawn from the same NumPy
generator), the same TD target and loss; gradients come from autograd, and
:func:`q_loss_backward` writes the loss gradient out by hand so that it can be checked
against autograd. The agent keeps its networks on :func:`dlcourse.get_device` (a GPU when
there is one); states arrive as NumPy arrays and actions leave as Python ints.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from dlcourse.device import get_device
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
from dlcourse.torch import layers as L
from dlcourse.torch.optim import clip_grad_norm
from dlcourse.validation import as_count, as_float_tensor, as_real, check_rng, describe

__all__ = ["DQNAgent", "q_loss_backward", "q_loss_forward", "q_network", "td_target"]


def q_network(obs_dim: int, n_actions: int, hidden: Sequence[int], rng: np.random.Generator) -> L.Sequential:
    """An MLP from a state vector to one value per action, (N, D) -> (N, A); weights as the NumPy tree draws them."""
    sizes = check_q_network(obs_dim, n_actions, hidden, rng)  # [D, *hidden, A]
    layers: list[torch.nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(L.Linear(fan_in, fan_out, rng))
        if i < len(sizes) - 2:
            layers.append(L.ReLU())
    return L.Sequential(*layers)


def td_target(
    rewards: torch.Tensor,
    next_q: torch.Tensor,
    terminated: torch.Tensor,
    gamma: float,
    next_q_online: torch.Tensor | None = None,
    *,
    check: bool = True,
) -> torch.Tensor:
    """TD targets r + gamma (1 - terminated) Q_target(s', a*), a* from next_q (DQN) or next_q_online (Double DQN); (N,).

    ``check=False`` skips checking the arguments (:meth:`DQNAgent.update` checks its batch once)."""
    if check:
        rewards, next_q, terminated, gamma, next_q_online = check_td_target(
            rewards, next_q, terminated, gamma, next_q_online, as_float_tensor
        )
        rewards = rewards.to(next_q.device)
    if next_q_online is None:
        best = next_q.max(dim=1).values  # (N,)
    else:
        best = next_q.gather(1, next_q_online.argmax(dim=1, keepdim=True)).squeeze(1)  # (N,)
    return rewards + gamma * (1 - terminated.to(device=next_q.device, dtype=next_q.dtype)) * best


def q_loss_forward(
    q_values: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor, kind: str = "huber", *, check: bool = True
) -> tuple[torch.Tensor, tuple]:
    """Huber or squared loss between Q(s, a) of the chosen actions and the targets, averaged.

    Returns the loss as a 0-dim tensor that autograd can differentiate (the NumPy tree
    returns a float), and ``cache = (diff, actions, shape, kind)``. ``check=False`` skips
    checking the arguments (:meth:`DQNAgent.update` checks its batch once).
    """
    if check:
        q_values, actions, targets = check_q_loss(q_values, actions, targets, kind, as_float_tensor, numpy=False)
        actions, targets = _as_tensor(actions, device=q_values.device), targets.to(q_values.device)
    actions = actions.long()
    diff = q_values.gather(1, actions[:, None]).squeeze(1) - targets.detach()  # (N,)
    if kind == "huber":
        per_item = torch.where(diff.abs() <= 1.0, 0.5 * diff * diff, diff.abs() - 0.5)  # (N,)
    else:
        per_item = diff * diff
    loss = per_item.mean()
    return loss, (diff.detach(), actions, tuple(q_values.shape), kind)


def q_loss_backward(dout: float, cache: tuple) -> torch.Tensor:
    """Gradient of the loss with respect to q_values, (N, A): clip(d, -1, 1)/N (Huber) or 2d/N at the chosen actions."""
    diff, actions, shape, kind = cache
    n, dout = shape[0], as_real(dout, "dout")
    slope = diff.clamp(-1.0, 1.0) if kind == "huber" else 2.0 * diff  # (N,)
    dq = torch.zeros(shape, dtype=diff.dtype, device=diff.device)  # (N, A)
    dq[torch.arange(n, device=diff.device), actions] = slope * (float(dout) / max(n, 1))
    return dq


class DQNAgent:
    """A DQN agent: online Q-network, target network, Adam (``torch.optim``), epsilon-greedy actions.

    Args:
        obs_dim: D.
        n_actions: A.
        rng: draws the weights (exactly as the NumPy tree does), then the exploration.
        config: the hyperparameters (:class:`dlcourse.rl.DQNConfig`); its defaults if None.
        device: where the networks live; :func:`dlcourse.get_device` decides if None.
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        rng: np.random.Generator,
        config: DQNConfig | None = None,
        device: str | None = None,
    ) -> None:
        self.config = check_config(config)  # DQNConfig() for None
        self.obs_dim, self.n_actions = as_count(obs_dim, "obs_dim"), as_count(n_actions, "n_actions")
        self.rng = check_rng(rng)
        self.device = _check_device(device) if device is not None else get_device(verbose=False)
        self.q = q_network(self.obs_dim, self.n_actions, self.config.hidden, rng).to(self.device)
        self.target = copy.deepcopy(self.q).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=self.config.lr)

    def _tensor(self, array: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return _as_tensor(array, dtype=dtype, device=self.device)

    @torch.no_grad()
    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """The online network's action values as a NumPy array: (D,) -> (A,), or (N, D) -> (N, A)."""
        obs = as_obs(obs, self.obs_dim)  # float32
        out = self.q(self._tensor(obs.reshape(-1, self.obs_dim)))  # (N, A)
        return out.cpu().numpy().reshape(*obs.shape[:-1], self.n_actions)

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
        obs, next_obs = self._tensor(batch.obs), self._tensor(batch.next_obs)  # (B, D)
        with torch.no_grad():
            next_q = self.target(next_obs)  # (B, A)
            next_online = self.q(next_obs) if cfg.double else None
            targets = td_target(
                self._tensor(batch.rewards), next_q, self._tensor(batch.terminated), cfg.gamma, next_online, check=False
            )  # (B,)
        actions = self._tensor(batch.actions, torch.int64)
        loss, _ = q_loss_forward(self.q(obs), actions, targets, cfg.loss, check=False)
        self.optimizer.zero_grad()
        loss.backward()
        if cfg.max_grad_norm is not None:
            clip_grad_norm(list(self.q.parameters()), cfg.max_grad_norm)
        self.optimizer.step()
        return float(loss.detach())

    def sync_target(self) -> None:
        """Copy the online network's weights into the target network."""
        self.target.load_state_dict(self.q.state_dict())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Copies of the online network's weights."""
        return {k: v.detach().clone() for k, v in self.q.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load weights into the online and the target network."""
        shapes = {name: tuple(p.shape) for name, p in self.q.state_dict().items()}
        self.q.load_state_dict(check_state(state, shapes, as_float_tensor))
        self.sync_target()


def _check_device(device: Any) -> torch.device:
    """A device this machine has: a name such as ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``, or a torch.device."""
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be None, a name such as 'cpu' or 'cuda', or a torch.device, got {describe(device)}."
        )
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must name a device such as 'cpu', 'cuda' or 'mps', got {describe(device)}.") from None
    mps = getattr(torch.backends, "mps", None)
    count = {"cpu": 1, "cuda": torch.cuda.device_count(), "mps": int(bool(mps) and mps.is_available())}
    if (device.index or 0) >= count.get(device.type, 0):
        raise ValueError(f"device {describe(str(device))} is not available on this machine.")
    return device


def _as_tensor(value: Any, **kwargs: Any) -> torch.Tensor:
    """``torch.as_tensor`` of a tensor or an array, copying arrays that torch cannot share (negative strides)."""
    if not isinstance(value, torch.Tensor):
        value = np.asarray(value)
        value = value if value.flags.c_contiguous else value.copy()  # not ascontiguousarray: it makes 0-d 1-d
    return torch.as_tensor(value, **kwargs)
