"""GRE-B, the benchmark of text embedding models on recommendation, as a Ray Tune grid.

Pure pandas/scipy/matplotlib: settings (:mod:`~gre_ray.bench.config`), trial specs and
names (:mod:`~gre_ray.bench.trials`), the driver function of one trial
(:mod:`~gre_ray.bench.trial`), splits and datasets (:mod:`~gre_ray.bench.prepare`), the
results table (:mod:`~gre_ray.bench.results`), leaderboards (:mod:`~gre_ray.bench.leaderboard`),
paired tests (:mod:`~gre_ray.bench.stats`) and the report (:mod:`~gre_ray.bench.report`,
:mod:`~gre_ray.bench.plots`). Ray wiring: :mod:`~gre_ray.wiring.tune_grid` (the Tune grid),
:mod:`~gre_ray.wiring.bench_search` (lr/dim search), :mod:`~gre_ray.wiring.bench_embeddings` (the
embedding cache) and the stage :mod:`gre_ray.stages.benchmark`.
"""
