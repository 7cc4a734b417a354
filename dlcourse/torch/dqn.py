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

import numpy as np
import torch

from dlcourse.device import get_device
from dlcourse.rl import Batch, DQNConfig, epsilon_greedy
from dlcourse.torch import layers as L
from dlcourse.torch.optim import clip_grad_norm
from dlcourse.validation import as_float_tensor, check_shape

__all__ = ["DQNAgent", "q_loss_backward", "q_loss_forward", "q_network", "td_target"]

LOSSES = ("huber", "mse")


def q_network(obs_dim: int, n_actions: int, hidden: Sequence[int], rng: np.random.Generator) -> L.Sequential:
    """An MLP from a state vector to one value per action, (N, D) -> (N, A); weights as the NumPy tree draws them."""
    sizes = [obs_dim, *hidden, n_actions]
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
) -> torch.Tensor:
    """TD targets r + gamma (1 - terminated) Q_target(s', a*), a* from next_q (DQN) or next_q_online (Double DQN); (N,)."""
    next_q = as_float_tensor(next_q, "next_q")
    check_shape(next_q, "next_q", (None, None))
    n = next_q.shape[0]
    rewards, terminated = torch.as_tensor(rewards, device=next_q.device), torch.as_tensor(terminated)
    check_shape(rewards, "rewards", (n,))
    check_shape(terminated, "terminated", (n,))
    if next_q_online is None:
        best = next_q.max(dim=1).values  # (N,)
    else:
        check_shape(next_q_online, "next_q_online", tuple(next_q.shape))
        best = next_q.gather(1, next_q_online.argmax(dim=1, keepdim=True)).squeeze(1)  # (N,)
    return rewards + gamma * (1 - terminated.to(device=next_q.device, dtype=next_q.dtype)) * best


def q_loss_forward(
    q_values: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor, kind: str = "huber"
) -> tuple[torch.Tensor, tuple]:
    """Huber or squared loss between Q(s, a) of the chosen actions and the targets, averaged.

    Returns the loss as a 0-dim tensor that autograd can differentiate (the NumPy tree
    returns a float), and ``cache = (diff, actions, shape, kind)``.
    """
    q_values = as_float_tensor(q_values, "q_values")
    check_shape(q_values, "q_values", (None, None))
    n, a = q_values.shape
    actions = torch.as_tensor(actions, device=q_values.device)
    check_shape(actions, "actions", (n,))
    if actions.is_floating_point() or (n and (actions.min() < 0 or actions.max() >= a)):
        raise ValueError(f"actions must hold integers in [0, {a}), got {actions!r}.")
    targets = torch.as_tensor(targets, device=q_values.device)
    check_shape(targets, "targets", (n,))
    if kind not in LOSSES:
        raise ValueError(f"kind must be one of {LOSSES}, got {kind!r}.")
    actions = actions.long()
    diff = q_values.gather(1, actions[:, None]).squeeze(1) - targets.detach()  # (N,)
    if kind == "huber":
        per_item = torch.where(diff.abs() <= 1.0, 0.5 * diff * diff, diff.abs() - 0.5)  # (N,)
    else:
        per_item = diff * diff
    loss = per_item.mean() if n else per_item.sum()
    return loss, (diff.detach(), actions, tuple(q_values.shape), kind)


def q_loss_backward(dout: float, cache: tuple) -> torch.Tensor:
    """Gradient of the loss with respect to q_values, (N, A): clip(d, -1, 1)/N (Huber) or 2d/N at the chosen actions."""
    diff, actions, shape, kind = cache
    n = shape[0]
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
        self.config = config or DQNConfig()
        if self.config.loss not in LOSSES:
            raise ValueError(f"config.loss must be one of {LOSSES}, got {self.config.loss!r}.")
        self.obs_dim, self.n_actions, self.rng = obs_dim, n_actions, rng
        self.device = torch.device(device) if device is not None else get_device(verbose=False)
        self.q = q_network(obs_dim, n_actions, self.config.hidden, rng).to(self.device)
        self.target = copy.deepcopy(self.q).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=self.config.lr)

    def _tensor(self, array: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=dtype, device=self.device)

    @torch.no_grad()
    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """The online network's action values as a NumPy array: (D,) -> (A,), or (N, D) -> (N, A)."""
        obs = np.asarray(obs, dtype=np.float32)
        out = self.q(self._tensor(obs.reshape(-1, self.obs_dim)))  # (N, A)
        return out.cpu().numpy().reshape(*obs.shape[:-1], self.n_actions)

    def greedy(self, obs: np.ndarray) -> int:
        """The action with the highest value in state ``obs`` (D,)."""
        return int(np.argmax(self.q_values(obs)))

    def act(self, obs: np.ndarray, epsilon: float) -> int:
        """An epsilon-greedy action in state ``obs`` (D,), drawn with the agent's generator."""
        return epsilon_greedy(self.q_values(obs), epsilon, self.rng)

    def update(self, batch: Batch) -> float:
        """One gradient step on a minibatch of transitions; returns the loss before the step."""
        cfg = self.config
        obs, next_obs = self._tensor(batch.obs), self._tensor(batch.next_obs)  # (B, D)
        with torch.no_grad():
            next_q = self.target(next_obs)  # (B, A)
            next_online = self.q(next_obs) if cfg.double else None
            targets = td_target(
                self._tensor(batch.rewards), next_q, self._tensor(batch.terminated), cfg.gamma, next_online
            )  # (B,)
        loss, _ = q_loss_forward(self.q(obs), self._tensor(batch.actions, torch.int64), targets, cfg.loss)
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
        self.q.load_state_dict(state)
        self.sync_target()
