"""What the training side and the serving side agree on about model files (no torch here)."""

from __future__ import annotations

import hashlib
from pathlib import Path

SIDECAR_FORMAT = 1
SIDECAR_KIND = "salesrl-policy"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
