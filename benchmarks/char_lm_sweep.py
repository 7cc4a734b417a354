"""Try variations of the ``char_lm`` model on the same budget: how its settings were chosen.

Each argument is a JSON object of settings that replace those of ``bench_rnn.CHAR_LM``; every
variant trains from the same seed on the same text for the same wall-clock budget and is
scored on the same held-out text. Run them one after another on an otherwise idle machine
(variants running side by side would share the cores and get fewer steps)::

    python benchmarks/char_lm_sweep.py '{}' '{"seq_len": 50}' '{"hidden_size": 320}'
    python benchmarks/char_lm_sweep.py --budget 60 '{"dropout": 0.1}'    # a shorter budget
    python benchmarks/char_lm_sweep.py --json sweep.json '{}' '{"seq_len": 100}'

It prints one line per variant (the changed settings, validation loss, steps, epochs, the
last training loss) and can write the full rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from bench_rnn import CHAR_LM, char_lm_row


def variant(text: str) -> dict:
    """The settings of one variant: ``CHAR_LM`` updated with a JSON object of known keys."""
    try:
        change = json.loads(text)
    except json.JSONDecodeError as error:
        raise SystemExit(
            f"each variant must be a JSON object such as '{{\"seq_len\": 50}}', got {text!r} ({error})."
        ) from None
    if not isinstance(change, dict):
        raise SystemExit(f"each variant must be a JSON object such as '{{\"seq_len\": 50}}', got {text!r}.")
    unknown = sorted(set(change) - set(CHAR_LM))
    if unknown:
        raise SystemExit(f"unknown setting {unknown[0]!r} in {text}; the settings are: {', '.join(CHAR_LM)}.")
    return {**CHAR_LM, **change}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", metavar="JSON", help="settings to change, e.g. '{\"seq_len\": 50}'")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds of training per variant (default 300)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the rows as JSON")
    args = parser.parse_args(argv)
    configs = [variant(v) for v in args.variants]  # all checked before the first one trains
    rows = []
    for text, config in zip(args.variants, configs, strict=True):
        row = char_lm_row(config, args.budget, progress=False)
        rows.append(row)
        m = row.metrics
        last = "n/a" if m["last_train_loss"] is None else f"{m['last_train_loss']:.4f}"  # fewer steps than a log entry
        print(
            f"{text:40s} val_loss {m['val_loss']:.4f}  steps {m['steps']:6d}  epochs {m['epochs']:5.2f}  "
            f"last train loss {last}",
            flush=True,
        )
        if args.json:  # after every variant, so that an interrupted sweep keeps what it measured
            args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
