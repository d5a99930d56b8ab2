"""All of gre_ray's Ray code: Ray Data pipelines, Ray tasks, Ray Train loops, Ray Tune grids,
the Ray session and the autoscaler, used by the stages and the commands.

Only modules here import Ray; every other package of gre_ray (entry points, pipeline,
stages, runner, root config and the domain packages ``data``, ``ingest``, ``embed``,
``coreset``, ``pairs``, ``recsys``, ``train``, ``bench``, ``demo``) never does
(``.importlinter``, contract ``no-ray-outside-wiring``). Each module calls the pure code of
its domain package and adds only what Ray needs: tasks, actor pools, resources, scheduling,
fault tolerance, and the device and node Ray gave a piece of work. Every module here
imports Ray (``tests/foundation/test_structure.py``): orchestration that only calls the
wiring lives in the stages (the GRE-B flow, :mod:`gre_ray.stages.gre_b`), and the bodies
of Ray tasks live in their domain package (:mod:`gre_ray.coreset.rounds`).

Modules: :mod:`~gre_ray.wiring.ray_session` (start or join Ray);
:mod:`~gre_ray.wiring.autoscale` (resource needs and the autoscaler that meets them);
:mod:`~gre_ray.wiring.accelerator` (the torch device of GPU-assigned work, the node id);
:mod:`~gre_ray.wiring.tasks` (plain functions as Ray tasks);
:mod:`~gre_ray.wiring.ingest_tasks` (the ingest stage's parse and token-count tasks);
:mod:`~gre_ray.wiring.embed_pipeline` (batch inference on Ray Data, the embeddings cache);
:mod:`~gre_ray.wiring.coreset_data` (the coreset's rounds on Ray Data and tasks);
:mod:`~gre_ray.wiring.pairs_sharded`, :mod:`~gre_ray.wiring.pair_key_holders`,
:mod:`~gre_ray.wiring.pairs_thresholds` (cosine/PMI pair mining sharded by user and pair);
:mod:`~gre_ray.wiring.pairs_swing` (Swing pair mining, a task per domain);
:mod:`~gre_ray.wiring.train_driver` (the Ray Train driver: TorchTrainer with DeepSpeed);
:mod:`~gre_ray.wiring.train_worker` (the Ray Train loop per worker);
:mod:`~gre_ray.wiring.train_signal` (the held-out users and candidate pools, file by file);
:mod:`~gre_ray.wiring.tune_grid` (the GRE-B grid on Ray Tune, the cluster check before it);
:mod:`~gre_ray.wiring.tune_callbacks` (its Tune callbacks);
:mod:`~gre_ray.wiring.bench_search` (lr and dim search, ASHA);
:mod:`~gre_ray.wiring.tracking` (the trials' MLflow / W&B callbacks);
:mod:`~gre_ray.wiring.zero_shot_tasks` (the zero-training tier's scoring tasks).
"""
