"""Text embeddings: the encoder (pure torch), the batch-inference callable, faiss index, content-keyed cache.

Modules: :mod:`~gre_ray.embed.encoder` and :mod:`~gre_ray.embed.pooling` (the model),
:mod:`~gre_ray.embed.batching` (token-budget batches), :mod:`~gre_ray.embed.model_folder`
(resolving, checking and fingerprinting model folders), :mod:`~gre_ray.embed.inference`
(the Ray Data callable, Ray-free), :mod:`~gre_ray.embed.job` (checks before work, the run
report), :mod:`~gre_ray.embed.index` (faiss), :mod:`~gre_ray.embed.cache` (the cache keys) and
:mod:`~gre_ray.embed.vectors` (the embeddings table). Importing this package imports
none of them, so configs load without torch or faiss. The Ray Data pipeline and
``embed_items`` are :mod:`gre_ray.wiring.embed_pipeline`.
"""
