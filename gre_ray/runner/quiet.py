"""A readable log: third-party noise off by default, back with ``gre-ray -v``.

What a user needs from a run is the stages' progress and summaries. Without ``-v`` these
are hidden, each for a stated reason, in the driver and (through the local Ray's worker
setup hook, :func:`quiet_worker`) in every Ray worker:

* transformers' load report when the only keys it lists are the BERT pooler's
  (``pooler.dense.*`` MISSING or UNEXPECTED): the pooler is never used (the encoder pools
  the token states itself), so the report on every load of the trained model says nothing;
  a report naming any other key still shows;
* DeepSpeed's "Setting accelerator to CPU" on every CPU worker;
* faiss's INFO lines on which CPU build it loaded (faiss is imported when a stage first
  needs it, after the CLI set up its log);
* weight-loading and shard-writing progress bars (``HF_HUB_DISABLE_PROGRESS_BARS``);
* ``DeprecationWarning`` and ``FutureWarning`` from libraries;
* Ray Data's per-dataset execution plans and operator progress on the console (its log file
  in the Ray session keeps them), Ray Train's INFO lines, Tune's experiment banner
  (``RAY_AIR_NEW_OUTPUT=0`` with verbosity 0), Ray's WARNING lines at ``ray.init``, and
  Tune's "Trials did not complete: [...]" after an interrupt or a failed trial (the
  progress log names failed trials, and the CLI's line says what an interrupt kept).

Nothing here imports Ray or a model library: filters attach to loggers by name, so they
apply once the library creates the logger. The wiring calls :func:`quiet_ray_data` after
Ray Data configured its own logging.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings

QUIET_ENV = "GRE_RAY_QUIET"  # "1": hide the noise below, in the driver and its local Ray workers
_POOLER = "pooler."


def is_quiet() -> bool:
    """Whether third-party noise is hidden (set by :func:`configure`; inherited by local workers)."""
    return os.environ.get(QUIET_ENV) == "1"


def configure(verbose: bool) -> None:
    """Hide third-party noise in this process and the workers it starts, unless ``verbose``.

    Called by the CLI before anything imports transformers or Ray; environment variables the
    user set are left as they are.
    """
    os.environ[QUIET_ENV] = "0" if verbose else "1"
    if verbose:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's old reporter prints nothing at verbosity 0
    install_filters()


def install_filters() -> None:
    """Logger filters and warning filters of quiet mode in this process."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    _add_filter("transformers.modeling_utils", PoolerOnlyReport())
    _add_filter("DeepSpeed", AcceleratorNotice())
    _add_filter("ray.tune.tune", TuneNotice())
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)


def quiet_worker() -> None:
    """Ray worker setup hook: the filters of quiet mode, and Ray Train's INFO lines off (the
    per-epoch "Reporting training result" line is logged under a logger named by its file
    path, outside ``ray.train``'s level, so it is filtered by name)."""
    if is_quiet():
        install_filters()
        logging.getLogger("ray.train").setLevel(logging.WARNING)
        spec = importlib.util.find_spec("ray")
        if spec is not None and spec.origin:
            context = os.path.join(os.path.dirname(spec.origin), "train", "v2", "_internal", "execution", "context.py")
            _add_filter(context, TrainReportNotice())


def quiet_ray_data() -> None:
    """Ray Data's console handler at WARNING (its session log file keeps every line); call after
    ``import ray.data``, which installs the handler."""
    if not is_quiet():
        return
    for handler in logging.getLogger("ray.data").handlers:
        if type(handler).__name__ == "PlainRayHandler":
            handler.setLevel(logging.WARNING)


def ray_log_level() -> int:
    """The level of Ray's own driver logging: WARNING, ERROR in quiet mode."""
    return logging.ERROR if is_quiet() else logging.WARNING


def train_log_level() -> str:
    """Ray Train's ``LoggingConfig.log_level``: WARNING in quiet mode, else INFO."""
    return "WARNING" if is_quiet() else "INFO"


def _add_filter(logger: str, flt: logging.Filter) -> None:
    target = logging.getLogger(logger)
    if not any(type(f) is type(flt) for f in target.filters):
        target.addFilter(flt)


class PoolerOnlyReport(logging.Filter):
    """Drops transformers' LOAD REPORT when every key it lists is the unused BERT pooler's."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "LOAD REPORT" not in text:
            return True
        keys = [line.split("|")[0].strip() for line in text.splitlines() if "|" in line]
        keys = [k for k in keys if k and k != "Key" and not set(k) <= set("-+")]
        return not keys or not all(k.startswith(_POOLER) for k in keys)


class AcceleratorNotice(logging.Filter):
    """Drops DeepSpeed's "Setting accelerator to CPU" notice (printed by every CPU worker)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Setting accelerator to CPU" not in record.getMessage()


class TuneNotice(logging.Filter):
    """Drops Tune's "Trials did not complete" list, logged after an interrupt or a failed trial."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Trials did not complete")


class TrainReportNotice(logging.Filter):
    """Drops Ray Train's "Reporting training result N: TrainingReport(...)" (one per worker and epoch)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Reporting training result")


class RayDataNotice(logging.Filter):
    """Drops Ray Data's notice that progress bars are off (quiet mode turns off the bars of Ray
    Train's split of the training rows, which tell nothing of training)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Progress bars disabled")
