"""Ray wiring used by the stages and the commands: Ray Data pipelines, Ray Train loops, Ray Tune grids.

Modules here may import Ray; the domain packages (``data``, ``ingest``, ``embed``,
``coreset``, ``pairs``, ``recsys``, ``train``, ``bench``, ``demo``) never do
(``.importlinter``). Each module calls the pure code of its domain package and adds only
what Ray needs: actor pools, resources, scheduling and fault tolerance.

Modules: :mod:`~gre_ray.wiring.train_run` (a training stage's run on Ray Train);
:mod:`~gre_ray.wiring.train_driver` (the Ray Train driver: TorchTrainer with DeepSpeed);
:mod:`~gre_ray.wiring.train_worker` (the Ray Train loop per worker);
:mod:`~gre_ray.wiring.tune_grid` (the GRE-B grid on Ray Tune);
:mod:`~gre_ray.wiring.tune_callbacks` (its Tune callbacks);
:mod:`~gre_ray.wiring.bench_search` (lr and dim search, ASHA);
:mod:`~gre_ray.wiring.bench_grid` (the whole GRE-B run);
:mod:`~gre_ray.wiring.bench_embeddings` (the benchmark's embeddings);
:mod:`~gre_ray.wiring.bench_embed_batch` (one Ray Data job per encoder).
"""
