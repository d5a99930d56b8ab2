"""Training GRE: continued MLM pre-training and contrastive fine-tuning on Ray Train + DeepSpeed.

Pure torch / pyarrow (no Ray): :mod:`.config`, :mod:`.losses`, :mod:`.sampling`,
:mod:`.heldout`, :mod:`.rows`, :mod:`.pooling`, :mod:`.tasks`, :mod:`.engine` (DeepSpeed,
imported lazily), :mod:`.export`, :mod:`.center`, :mod:`.wise` (WiSE-FT),
:mod:`.signal`, :mod:`.signal_pool` and :mod:`.signal_store` (the held-out users' next-item
signal in a bounded candidate pool, and its files) and :mod:`.worker_spec` (what each Ray
Train worker is told). The Ray side lives in :mod:`gre_ray.wiring` (``train_driver``,
``train_worker``, ``train_signal``); what the ``mlm`` and ``contrastive`` stages share in
:mod:`gre_ray.stages.training`.
"""
