"""Try variations of a benchmark's settings, scored on validation data only: how its settings were chosen.

Three benchmarks have settings that were chosen this way:

- ``char_lm``: each variant replaces settings of ``bench_rnn.CHAR_LM``, trains from the same seed
  on the same text for the same wall-clock budget, and is scored on the validation part of the
  book (``val_loss``, lower is better);
- ``char_transformer``: the same, with ``bench_attention.CHAR_TRANSFORMER``;
- ``cnn_mnist``: each variant replaces settings of ``bench_cnn.RECIPE``, trains with seed 0, and
  is scored on the 1,000 validation digits (``val_acc``, higher is better).

A sweep never scores the final (test) data: the benchmark itself does that, once, for the
chosen settings. Run variants one after another on an otherwise idle machine (variants running
side by side would share the cores)::

    python benchmarks/sweep.py char_lm '{}' '{"seq_len": 64}' '{"hidden_size": 512}'
    python benchmarks/sweep.py char_lm --budget 60 '{"dropout": 0.1}'    # a shorter budget
    python benchmarks/sweep.py cnn_mnist --save '{}' '{"lr": 1e-3}'      # also write bench_data

It prints one line per variant. ``--json PATH`` writes the rows; ``--save`` writes them, with
the machine, to ``dlcourse/bench_data/sweeps/<benchmark>.json``, where the book reads them
(:func:`dlcourse.bench_results.load_sweep`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from bench_common import Result

TARGETS = {
    "char_lm": ("val_loss", "lower"),
    "char_transformer": ("val_loss", "lower"),
    "cnn_mnist": ("val_acc", "higher"),
}
BUDGETED = ("char_lm", "char_transformer")  # trained for a wall-clock budget (--budget)


def settings(target: str) -> dict:
    """The benchmark's current settings, which each variant changes."""
    if target == "char_lm":
        from bench_rnn import CHAR_LM

        return CHAR_LM
    if target == "char_transformer":
        from bench_attention import CHAR_TRANSFORMER

        return CHAR_TRANSFORMER
    from bench_cnn import RECIPE

    return RECIPE


def variant(target: str, text: str) -> dict:
    """The settings of one variant: the benchmark's settings updated with a JSON object of known keys."""
    base = settings(target)
    try:
        change = json.loads(text)
    except json.JSONDecodeError as error:
        raise SystemExit(
            f"each variant must be a JSON object such as '{{\"seq_len\": 50}}', got {text!r} ({error})."
        ) from None
    if not isinstance(change, dict):
        raise SystemExit(f"each variant must be a JSON object such as '{{\"seq_len\": 50}}', got {text!r}.")
    unknown = sorted(set(change) - set(base))
    if unknown:
        raise SystemExit(f"unknown setting {unknown[0]!r} in {text}; the settings are: {', '.join(base)}.")
    config = {**base, **change}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}


def score(target: str, config: dict, budget: float) -> Result:
    """Train one variant and score it on validation data only."""
    if target == "char_lm":
        from bench_rnn import char_lm_row

        return char_lm_row(config, budget, progress=False, final=False)
    if target == "char_transformer":
        from bench_attention import char_transformer_row

        return char_transformer_row(config, budget, progress=False, final=False)
    from bench_cnn import cnn_mnist_row

    return cnn_mnist_row(config, seeds=[0], final=False)[0]  # the first device: torch-cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=sorted(TARGETS), help="the benchmark whose settings vary")
    parser.add_argument("variants", nargs="+", metavar="JSON", help="settings to change, e.g. '{\"seq_len\": 50}'")
    parser.add_argument(
        "--budget", type=float, default=300.0, help="char_lm, char_transformer: seconds of training per variant"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the rows as JSON")
    parser.add_argument("--save", action="store_true", help="write dlcourse/bench_data/sweeps/<target>.json")
    args = parser.parse_args(argv)
    configs = [variant(args.target, v) for v in args.variants]  # all checked before the first one trains
    metric, better = TARGETS[args.target]
    rows = []
    for text, config in zip(args.variants, configs, strict=True):
        row = score(args.target, config, args.budget)
        row.params["variant"] = json.loads(text)
        rows.append(row)
        m = row.metrics
        extra = (
            f"steps {m['steps']:6d}  last train loss "
            + ("n/a" if m["last_train_loss"] is None else f"{m['last_train_loss']:.4f}")
            if args.target in BUDGETED
            else f"train {m['train_s']:.1f} s"
        )
        print(f"{text:40s} {metric} {m[metric]:.4f}  {extra}", flush=True)
        written = {
            "benchmark": args.target,
            "selected_on": f"{metric} ({better} is better)",
            "rows": [asdict(r) for r in rows],
        }
        if args.json:  # after every variant, so that an interrupted sweep keeps what it measured
            args.json.write_text(json.dumps(written, indent=2) + "\n")
        if args.save:
            from run import machine_info

            path = Path(__file__).resolve().parents[1] / "dlcourse" / "bench_data" / "sweeps" / f"{args.target}.json"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps({"machine": machine_info(), **written}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
