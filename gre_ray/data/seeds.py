"""Per-domain seeds: one run seed gives every domain its own stream of random choices.

A domain's seed depends only on the run seed and the domain's name, never on which other
domains are present, so adding or dropping a domain leaves the others' outputs unchanged
(the demo generator's texts and interactions, the coreset's selection of each domain).
"""

from __future__ import annotations

import zlib


def domain_seed(seed: int, domain: str) -> int:
    """A 32-bit seed for ``domain`` that does not depend on the other domains."""
    return (seed * 1_000_003 + zlib.crc32(domain.encode("utf-8"))) % (2**32)
