"""Who a text embedding model is: the revision it resolved to, its size, what it was trained on.

A benchmark row names its embedding model by more than a name (GRE-B rows are compared
across machines and months):

* ``revision``: a Hugging Face Hub model is pinned to the commit its name resolved to
  (the Hub cache keeps each commit in ``.../snapshots/<commit>``; ``MODEL@REVISION`` asks
  for one). A model whose revision cannot be resolved (a local folder, the shipped model,
  a folder in storage, an offline copy outside the Hub cache) is recorded as
  ``sha256:<content hash>`` of its files (:func:`~gre_ray.embed.model_folder.model_fingerprint`).
* ``parameters``: read from the safetensors headers (no weights are loaded), or counted
  from a ``pytorch_model.bin`` when there are none.
* ``trained_on``: the datasets the model card lists under ``datasets:`` (this project's
  training stage writes the domains it trained on there; :mod:`gre_ray.train.export`).
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

from gre_ray.embed.model_folder import model_fingerprint, resolve_model_dir

_SNAPSHOT = re.compile(r"/models--[^/]+/snapshots/([0-9a-f]{40})(/|$)")


def resolved_revision(folder: str | Path) -> str:
    """The Hub commit of a folder of the Hub cache, else ``sha256:<content hash>``."""
    match = _SNAPSHOT.search(Path(folder).as_posix())
    return match.group(1) if match else f"sha256:{model_fingerprint(folder)}"


def _safetensors_count(path: Path) -> int:
    with path.open("rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(size))
    total = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for dim in info.get("shape", []):
            count *= int(dim)
        total += count
    return total


def parameter_count(folder: str | Path) -> int | None:
    """Parameters of the model in ``folder`` (None when it holds no weights file we can read)."""
    folder = Path(folder)
    tensors = sorted(folder.glob("*.safetensors"))
    if tensors:
        return sum(_safetensors_count(p) for p in tensors)
    bins = sorted(folder.glob("pytorch_model*.bin"))
    if bins:
        import torch

        return sum(int(t.numel()) for p in bins for t in torch.load(p, map_location="cpu", weights_only=True,
                                                                     mmap=True).values())
    return None


def card_datasets(folder: str | Path) -> list[str]:
    """The ``datasets:`` of the model card's YAML front matter (``README.md``), [] when none."""
    path = Path(folder) / "README.md"
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return []
    import yaml

    head = text.split("---", 2)[1] if text.count("---") >= 2 else ""
    try:
        meta = yaml.safe_load(head) or {}
    except yaml.YAMLError:
        return []
    found = meta.get("datasets") if isinstance(meta, dict) else None
    return [str(d) for d in found] if isinstance(found, list) else ([str(found)] if found else [])


def model_identity(name: str) -> dict[str, Any]:
    """``model`` (as named), ``revision``, ``parameters`` and ``trained_on`` of a model name,
    alias, folder or URI (see the module docstring).

    Raises:
        ConfigError: the model cannot be resolved (:func:`resolve_model_dir`).
    """
    folder = resolve_model_dir(name)
    return {"model": name, "revision": resolved_revision(folder), "parameters": parameter_count(folder),
            "trained_on": card_datasets(folder)}
