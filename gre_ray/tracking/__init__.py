"""Experiment tracking: MLflow (a store under the run folder by default, no server) or
Weights & Biases, for the benchmark's trials and the training stages' epochs.

Torch- and Ray-free: :mod:`gre_ray.tracking.config` holds the selector, ``check`` finds a
backend that is not installed or cannot be reached before any work, ``mlflow_runs`` writes
runs through MLflow's client (imported lazily). The Tune callback that feeds it from the
grid lives in :mod:`gre_ray.wiring.tracking`.
"""
