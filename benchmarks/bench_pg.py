"""REINFORCE with a learned baseline on CartPole-v1: sample efficiency and training time of both trees' agents.

The recipe is :class:`dlcourse.policy_gradient.ReinforceConfig`'s defaults: a 4-32-32-2 tanh
policy and a 4-32-32-1 tanh value network (the baseline), each with Adam at 1e-2, gamma 0.99,
one update from every 8 whole episodes, advantages normalised per batch, no gradient clipping.

Everything the method does in the environment is counted: every step of every training episode
AND of every evaluation episode, on one clock, capped at ``BUDGET`` (``train_reinforce``'s
``max_env_steps``). The greedy policy is evaluated every ``EVAL_EVERY`` training steps
(``EVAL_EPISODES`` episodes, seeds 10_000 + i), the best network seen is kept, and training stops
once an evaluation is perfect (500). The reported ``avg_return`` is that kept network's mean over
``FINAL_EPISODES`` fresh greedy episodes whose seeds (1_000_000 + 1000 * seed + i) no evaluation
used; those final test episodes are a measurement, not part of the method, and are not counted.
``env_steps`` is every step the run took, evaluation included (the whole budget when no
evaluation was perfect). Every seed is reported; the row gives the median and the worst.
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import torch
from bench_common import Result, median, torch_threads
from threadpoolctl import threadpool_limits

from dlcourse import rl
from dlcourse.numpy import reinforce as np_reinforce
from dlcourse.policy_gradient import ReinforceConfig, train_reinforce
from dlcourse.torch import reinforce as torch_reinforce

BUDGET = 150_000  # counted environment steps, training and evaluation together
EVAL_EVERY = 5_000  # training steps between greedy evaluations
EVAL_EPISODES = 10
FINAL_EPISODES = 100
SEEDS = [0, 1, 2, 3, 4]
SOLVED = 475  # CartPole-v1's threshold


def train_one(impl: str, seed: int, budget: int, eval_every: int) -> dict:
    """Train one agent from ``seed``; return its metrics (the kept network's greedy mean over fresh episodes)."""
    config = ReinforceConfig()
    env, eval_env = gym.make("CartPole-v1"), gym.make("CartPole-v1")
    tree = np_reinforce if impl == "numpy" else torch_reinforce
    agent = tree.ReinforceAgent(4, 2, np.random.default_rng(seed), config)
    start = time.perf_counter()
    history = train_reinforce(
        agent,
        env,
        budget,
        eval_env=eval_env,
        eval_every=eval_every,
        eval_episodes=EVAL_EPISODES,
        seed=seed,
        stop_at=500.0,
        progress=False,
    )
    train_s = time.perf_counter() - start
    if history.best_state is not None:
        agent.load_state_dict(history.best_state)
    final = rl.evaluate(eval_env, agent.greedy, FINAL_EPISODES, seed=1_000_000 + 1000 * seed)
    return {
        "seed": seed,
        "avg_return": float(final.mean()),
        "env_steps": history.env_steps,
        "train_steps": history.train_steps,
        "eval_env_steps": history.eval_env_steps,
        "env_steps_at_kept": history.best_env_steps,  # counted steps up to the evaluation that chose it
        "kept_eval_return": round(history.best_return, 1) if history.eval_returns else None,
        "episodes": len(history.episode_returns),
        "train_s": train_s,
        "eval_returns": [round(r, 1) for r in history.eval_returns],
    }


def bench_reinforce_cartpole(quick: bool) -> list[Result]:
    """REINFORCE with a baseline on CartPole-v1, the NumPy agent and the PyTorch agent (CPU), several seeds."""
    seeds = [0] if quick else SEEDS
    budget = 10_000 if quick else BUDGET
    eval_every = 2_000 if quick else EVAL_EVERY
    rows = []
    for impl in ("numpy", "torch-cpu"):  # the torch agent lives on the CPU: one state at a time, tiny networks
        torch.manual_seed(0)
        # Tiny matrices: one thread is fastest, and on a busy machine more threads only fight each other.
        with torch_threads(1), threadpool_limits(1):
            runs = [train_one(impl, seed, budget, eval_every) for seed in seeds]
        returns = [r["avg_return"] for r in runs]
        train_s = median([r["train_s"] for r in runs])
        params = {
            "env": "CartPole-v1",
            "recipe": "REINFORCE + learned baseline: policy 4-32-32-2 tanh, value 4-32-32-1 tanh, Adam 1e-2 each, "
            "gamma 0.99, 8 whole episodes per update, advantages normalised per batch, no clipping",
            "budget_steps": budget,
            "seeds": seeds,
            "counted": "every env.step of training AND evaluation episodes, capped at budget_steps; "
            "not the final test episodes",
            "selection": f"best of greedy evaluations ({EVAL_EPISODES} episodes every {eval_every} training steps, "
            "counted); stop once one is perfect",
            "final_episodes": FINAL_EPISODES,
            "threads": 1,
        }
        metrics = {
            "avg_return": round(float(np.median(returns)), 1),
            "avg_return_min": round(min(returns), 1),
            "env_steps": int(np.median([r["env_steps"] for r in runs])),
            "env_steps_max": max(r["env_steps"] for r in runs),
            "train_s": round(train_s, 1),
            "solved_seeds": sum(r >= SOLVED for r in returns),
            "per_seed": [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()} for r in runs],
        }
        rows.append(Result("reinforce_cartpole", impl, train_s, len(seeds), params, metrics))
    return rows
