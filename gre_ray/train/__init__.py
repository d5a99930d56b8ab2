"""Training GRE: continued MLM pre-training and contrastive fine-tuning on Ray Train + DeepSpeed.

Pure torch (no Ray): :mod:`.losses`, :mod:`.sampling`, :mod:`.heldout`, :mod:`.pooling`,
:mod:`.tasks`, :mod:`.engine`, :mod:`.export`. Ray wiring: :mod:`.ray_driver` (the
TorchTrainer) and :mod:`.worker` (the loop each worker runs).
"""
