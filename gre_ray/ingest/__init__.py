"""Ingest: turn public recommendation datasets, as published, into the data contract.

Pure core (no Ray): source adapters (one module per published format under
:mod:`gre_ray.ingest.adapters`), line-oriented file reading with per-line provenance
(:mod:`~gre_ray.ingest.files`), record decoding (:mod:`~gre_ray.ingest.formats`), item
text templates and cleaning (:mod:`~gre_ray.ingest.text`, :mod:`~gre_ray.ingest.clean`),
parsing into a staging table (:mod:`~gre_ray.ingest.parse`), interaction filters
(:mod:`~gre_ray.ingest.filters`) and the assembly of the final tables
(:mod:`~gre_ray.ingest.assemble`). The Ray tasks are :mod:`gre_ray.wiring.ingest_tasks`,
run by the ``ingest`` stage in :mod:`gre_ray.stages.ingest`.
"""
