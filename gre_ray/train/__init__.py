"""Training GRE: continued MLM pre-training and contrastive fine-tuning on Ray Train + DeepSpeed.

Pure torch / pyarrow (no Ray): :mod:`.config`, :mod:`.losses`, :mod:`.sampling`,
:mod:`.heldout`, :mod:`.rows`, :mod:`.pooling`, :mod:`.tasks`, :mod:`.engine` (DeepSpeed,
imported lazily) and :mod:`.export`. Ray wiring: :mod:`.ray_driver` (checks, Ray Data
input, the TorchTrainer), :mod:`.worker` (the loop each worker runs) and :mod:`.run` (what
the ``mlm`` and ``contrastive`` stages share).
"""
