"""GRE-B, the benchmark of text embedding models on recommendation, as a Ray Tune grid.

Pure pandas/scipy/matplotlib (no Ray): settings and the embedding models under test
(:mod:`~gre_ray.bench.config`), the typed trial spec (:mod:`~gre_ray.bench.trial_spec`),
trial specs and names (:mod:`~gre_ray.bench.trials`), the driver function of one trial
(:mod:`~gre_ray.bench.trial`), splits and datasets (:mod:`~gre_ray.bench.prepare`), the
results table (:mod:`~gre_ray.bench.results`), leaderboards (:mod:`~gre_ray.bench.leaderboard`),
paired tests (:mod:`~gre_ray.bench.stats`) and the report (:mod:`~gre_ray.bench.report`,
:mod:`~gre_ray.bench.plots`). The flow that runs a grid is :mod:`gre_ray.stages.gre_b`
(with the embedding cache, :mod:`gre_ray.stages.bench_embeddings`); its Ray wiring is
:mod:`gre_ray.wiring.tune_grid` and :mod:`gre_ray.wiring.bench_search`. Importing this
package imports none of its modules.
"""
