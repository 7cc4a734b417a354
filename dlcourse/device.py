"""Pick where PyTorch runs: CUDA, then Apple's MPS, then the CPU.

Set the environment variable ``DLCOURSE_DEVICE`` (``cuda``, ``cuda:1``, ``mps`` or
``cpu``) to override the choice, for example to compare a GPU run with the CPU.
"""

from __future__ import annotations

import os

import torch

ENV_VAR = "DLCOURSE_DEVICE"


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return kind == "cpu"


def get_device(verbose: bool = True) -> torch.device:
    """Return the device that the course's PyTorch code should use.

    Args:
        verbose: print one line saying which device was chosen and why.

    Returns:
        ``torch.device("cuda")`` if a CUDA GPU is present, else ``mps`` on Apple silicon,
        else ``cpu``; or whatever ``DLCOURSE_DEVICE`` names.

    Raises:
        ValueError: ``DLCOURSE_DEVICE`` names a device kind that does not exist or is not
            available on this machine.
    """
    requested = os.environ.get(ENV_VAR, "").strip()
    if requested:
        kind = requested.split(":")[0]
        if kind not in ("cuda", "mps", "cpu"):
            raise ValueError(f"{ENV_VAR} must be 'cuda', 'cuda:N', 'mps' or 'cpu', got {requested!r}.")
        if not _available(kind):
            raise ValueError(f"{ENV_VAR}={requested!r} asks for {kind}, but this machine has no {kind} device.")
        device, reason = torch.device(requested), f"set by {ENV_VAR}"
    else:
        kind = next(k for k in ("cuda", "mps", "cpu") if _available(k))
        device = torch.device(kind)
        reason = "no CUDA or MPS device found" if kind == "cpu" else "the fastest device available"
    if verbose:
        name = f"{torch.cuda.get_device_name(device)}; " if device.type == "cuda" else ""
        print(f"dlcourse: using {device} ({name}{reason})")
    return device


def synchronize(device: torch.device) -> None:
    """Wait until queued GPU work is done, so that a timer measures it; no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
