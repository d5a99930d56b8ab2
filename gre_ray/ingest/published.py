"""Our counts of an ingested dataset against the ones GRE-B publishes (its Table 1).

A user who ingests a GRE-B dataset needs to know whether what they got is the dataset
GRE-B measured. After assembly the users, items and interactions kept are compared with
Table 1's counts (held in the registry, ``table1``); a relative difference beyond the
tolerance (``ingest.table1_tolerance``, default 5 %) becomes a warning that gives both
figures and names the likely cause from what the ingest itself counted: a damaged file,
interactions set aside for lack of item metadata, or a release or filter that differs.
"""

from __future__ import annotations

from typing import Any

KEYS = ("users", "items", "interactions")


def compare(ours: dict[str, int], published: dict[str, int], tolerance: float) -> dict[str, Any]:
    """Per count: ours, Table 1's and the relative difference ``(ours - theirs) / theirs``.

    Returns:
        ``{"users": {"ours", "table1", "rel_diff"}, ..., "tolerance", "within"}``.
    """
    result: dict[str, Any] = {}
    for key in KEYS:
        theirs = int(published[key])
        mine = int(ours.get(key, 0))
        result[key] = {"ours": mine, "table1": theirs, "rel_diff": round((mine - theirs) / theirs, 4)}
    result["tolerance"] = tolerance
    result["within"] = all(abs(result[k]["rel_diff"]) <= tolerance for k in KEYS)
    return result


def likely_cause(check: dict[str, Any], stats: dict[str, Any]) -> str:
    """The most likely reason counts differ, from the dataset's own accounting (``stats``)."""
    if stats.get("damaged_files"):
        files = ", ".join(sorted({d["file"] for d in stats["damaged_files"]}))
        return f"{files} is damaged or cut short: download it again (gre-ray datasets download resumes and checks it)"
    inter = stats.get("rows", {}).get("interactions", {})
    orphans = inter.get("quarantined", {}).get("item_without_metadata", 0)
    read = inter.get("records_read", 0)
    if read and orphans / read > check["tolerance"] / 2:
        return f"{orphans:,} of {read:,} interactions name an item missing from the item metadata file (wrong or partial metadata file?)"
    if read and sum(inter.get("quarantined", {}).values()) / read > check["tolerance"] / 2:
        return "many lines were quarantined: the file is likely another release or format (see the quarantine artifact)"
    larger = sum(check[k]["rel_diff"] for k in KEYS) > 0
    if larger:
        return "a larger release or a weaker filter than GRE-B's (check the registry's files and filters)"
    return "a smaller release or subset, or a stronger filter than GRE-B's (check the registry's files and filters)"


def warnings(name: str, check: dict[str, Any], stats: dict[str, Any]) -> list[str]:
    """One warning line per dataset whose counts are off by more than the tolerance (none when within)."""
    if check["within"]:
        return []
    off = [
        f"{k} {check[k]['ours']:,} vs Table 1 {check[k]['table1']:,} ({check[k]['rel_diff']:+.1%})"
        for k in KEYS
        if abs(check[k]["rel_diff"]) > check["tolerance"]
    ]
    return [f"ingest: {name}: counts differ from GRE-B Table 1 beyond {check['tolerance']:.0%}: {'; '.join(off)}; likely cause: {likely_cause(check, stats)}"]
