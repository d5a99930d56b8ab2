"""Text embeddings: the encoder (pure torch), Ray Data batch inference, faiss index, content-keyed cache.

Modules: :mod:`~gre_ray.embed.encoder` and :mod:`~gre_ray.embed.pooling` (the model),
:mod:`~gre_ray.embed.batching` (token-budget batches), :mod:`~gre_ray.embed.model_folder`
(resolving, checking and fingerprinting model folders), :mod:`~gre_ray.embed.inference`
(the Ray Data callable), :mod:`~gre_ray.embed.pipeline` (the Ray wiring),
:mod:`~gre_ray.embed.index` (faiss), :mod:`~gre_ray.embed.cache` (``embed_items``) and
:mod:`~gre_ray.embed.vectors` (the embeddings table). Importing this package imports
none of them, so configs load without torch or faiss.
"""
