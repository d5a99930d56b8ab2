"""Model folders: resolve a name to a local folder, check it is an encoder, fingerprint its weights.

Everything here reads files only (no weights are loaded), so the ``embed`` stage can
reject a wrong model before any actor starts. A model is named by a local folder, a
Hugging Face Hub id (fetched through the Hub cache; ``HF_HUB_OFFLINE=1`` uses only what
is cached), the alias ``minilm``, or a URI of a folder in storage (copied once per node into
the node's model cache, :mod:`gre_ray.embed.node_cache`).

The fingerprint hashes the *bytes* of the files that determine the vectors (weights,
model and tokenizer configs, Sentence-Transformers module configs), never the name: the
reference implementation keyed cached vectors by a model name and silently reused old
vectors after a new checkpoint was saved under it (DESIGN.md).

Sentence-Transformers metadata (Reimers & Gurevych 2019, the folder layout
``SentenceTransformer`` loads) is read here and written by :func:`write_st_metadata`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from gre_ray.embed.pooling import Pooling
from gre_ray.errors import ConfigError
from gre_ray.shipped import is_shipped, shipped_folder

_HUB_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors", "pytorch_model*.bin", "*_Pooling/*", "*.py"]
_SKIP_DIRS = {"onnx", "openvino", ".git", ".cache", "runs", "checkpoints"}
_SKIP_SUFFIXES = {".md", ".onnx", ".xml", ".msgpack", ".h5", ".ot", ".gguf", ".lock", ".gitattributes"}
_ST_MODULES = {"Transformer": "transformer", "Pooling": "pooling", "Normalize": "normalize"}
_ST_POOLING = {"cls": Pooling.CLS, "mean": Pooling.MEAN, "lasttoken": Pooling.LAST_TOKEN}
_ST_POOLING_LEGACY = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def split_revision(name: str) -> tuple[str, str]:
    """``org/model@REVISION`` → (``org/model``, ``REVISION``): a Hub id pinned to a branch, tag
    or commit. A URI, an existing path or a name without ``@`` → (``name``, ``""``)."""
    if "://" in name or "@" not in name or Path(name).expanduser().exists():
        return name, ""
    repo, _, revision = name.rpartition("@")
    return (repo, revision) if repo and revision else (name, "")


def resolve_model_dir(name: str) -> Path:
    """The local folder of a model name, alias or path (a Hub id may carry ``@REVISION``).

    Raises:
        ConfigError: a path that does not exist or holds no ``config.json``, or a Hub id
            that is neither cached nor downloadable.
    """
    if is_shipped(name):
        return Path(shipped_folder())
    if "://" in name:  # a folder in storage: this node's copy (gre_ray.embed.node_cache)
        from gre_ray.embed.node_cache import fetch_model

        name = str(fetch_model(name))
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"encoder.model {name!r} is a file; give the model's folder")
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise ConfigError(f"encoder.model {name!r}: not found (no config.json or modules.json: not a model folder)")
        return path.resolve()
    if name.startswith(("/", ".", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name:
        raise ConfigError(f"encoder.model {name!r}: not found (no such folder)")
    repo, revision = split_revision(name)
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(repo_id=repo, revision=revision or None, allow_patterns=_HUB_PATTERNS)
    except Exception as exc:  # noqa: BLE001 - every Hub failure means the same thing to the user
        raise ConfigError(
            f"encoder.model {name!r}: not found (not a local folder, and the Hugging Face Hub could not provide it) "
            f"({type(exc).__name__}; offline runs need the model in the Hub cache or a local path)"
        ) from None
    return resolve_model_dir(folder)


@dataclass(frozen=True)
class StMetadata:
    """What a Sentence-Transformers folder says about its pipeline (None: not said)."""

    pooling: Pooling | None = None
    normalize: bool | None = None
    max_seq_length: int | None = None
    prefix: str | None = None
    foreign: str = ""  # why the encoder cannot reproduce the stack ("" when it can)
    custom_modules: tuple[str, ...] = ()  # module types that live in the model's own code


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read model metadata ({exc})") from None


def _pooling_mode(config: dict) -> str:
    mode = config.get("pooling_mode")
    if mode is None:  # the legacy format: one boolean per mode; none set means mean
        mode = [m for key, m in _ST_POOLING_LEGACY.items() if config.get(key)] or "mean"
    if isinstance(mode, (list, tuple)):
        mode = mode[0] if len(mode) == 1 else "+".join(mode)
    return str(mode)


def known_st_module(module_type: str) -> bool:
    """Whether the installed sentence-transformers provides the module class ``module_type``."""
    import importlib

    package, _, cls = module_type.rpartition(".")
    try:
        return hasattr(importlib.import_module(package), cls)
    except ImportError:
        return False


def read_st_metadata(folder: Path) -> StMetadata:
    """Read pooling, normalisation, token limit and default prompt of a Sentence-Transformers folder.

    A stack this package's encoder cannot reproduce (a Dense head, another pooling, word
    embeddings, lower-casing, custom modules) is described in ``foreign``: such a model
    runs through ``SentenceTransformer`` itself (:class:`~gre_ray.embed.config.Backend`).

    Raises:
        ConfigError: a module type the installed sentence-transformers does not provide
            and the model's own code does not define (an unsupported module).
    """
    pooling = normalize = max_len = prefix = None
    foreign: list[str] = []
    custom: list[str] = []
    if (folder / "modules.json").is_file():
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        normalize = False
        for module in modules:
            module_type = str(module.get("type", ""))
            is_st = module_type.startswith("sentence_transformers.")
            kind = _ST_MODULES.get(module_type.rsplit(".", 1)[-1]) if is_st else None
            if not is_st:
                custom.append(module_type)
                foreign.append(f"custom module {module_type!r}")
                continue
            if not known_st_module(module_type):
                raise ConfigError(
                    f"{folder}/modules.json: unsupported module {module_type!r} "
                    "(the installed sentence-transformers has no such module)"
                )
            if kind is None:
                foreign.append(f"module {module_type.rsplit('.', 1)[-1]}")
                continue
            if kind == "pooling":
                mode = _pooling_mode(_read_json(folder / module["path"] / "config.json"))
                if mode in _ST_POOLING:
                    pooling = _ST_POOLING[mode]
                else:
                    foreign.append(f"pooling {mode!r}")
            normalize = normalize or kind == "normalize"
    if (folder / "sentence_bert_config.json").is_file():
        st_config = _read_json(folder / "sentence_bert_config.json")
        if st_config.get("do_lower_case"):
            foreign.append("do_lower_case")
        max_len = st_config.get("max_seq_length")
    if (folder / "config_sentence_transformers.json").is_file():
        st_config = _read_json(folder / "config_sentence_transformers.json")
        name = st_config.get("default_prompt_name")
        if name:
            prefix = (st_config.get("prompts") or {}).get(name)
    return StMetadata(pooling, normalize, max_len, prefix, ", ".join(foreign), tuple(custom))


def remote_code_reason(folder: Path, meta: StMetadata) -> str:
    """Why loading ``folder`` would run the repository's own code ("" when it would not)."""
    config_path = folder / "config.json"
    if config_path.is_file() and _read_json(config_path).get("auto_map"):
        return "config.json maps its model classes to the repository's own code (auto_map)"
    if meta.custom_modules:
        return f"modules.json lists custom module(s) {', '.join(meta.custom_modules)}"
    return ""


def write_st_metadata(
    folder: Path, *, dim: int, pooling: Pooling, normalize: bool, max_length: int, prefix: str
) -> None:
    """Write the files ``SentenceTransformer(folder)`` needs beside a saved Hugging Face model.

    The pooling config uses the legacy ``pooling_mode_*`` keys, which every
    Sentence-Transformers version reads; the prefix becomes the default prompt, so
    ``SentenceTransformer.encode`` adds it exactly as the encoder does.
    """
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (folder / "2_Normalize").mkdir(parents=True, exist_ok=True)
    pooling_config = {"word_embedding_dimension": dim, "include_prompt": True}
    pooling_config.update({key: _ST_POOLING.get(mode) is pooling for key, mode in _ST_POOLING_LEGACY.items()})
    (folder / "1_Pooling").mkdir(parents=True, exist_ok=True)
    _write_json(folder / "1_Pooling" / "config.json", pooling_config)
    _write_json(folder / "modules.json", modules)
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": max_length, "do_lower_case": False})
    prompts = {"document": prefix} if prefix else {}
    _write_json(
        folder / "config_sentence_transformers.json",
        {"prompts": prompts, "default_prompt_name": "document" if prefix else None, "similarity_fn_name": "cosine"},
    )


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def check_encoder_folder(folder: Path) -> dict:
    """Check that ``folder`` holds a model ``transformers.AutoModel`` loads as an encoder.

    Returns:
        The folder's ``config.json`` as a dict.

    Raises:
        ConfigError: an encoder-decoder (seq2seq) model, a model type without a base
            model class, or a folder without tokenizer files.
    """
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    config = _read_json(folder / "config.json")
    model_type = config.get("model_type")
    if config.get("is_encoder_decoder"):
        raise ConfigError(
            f"encoder.model {folder}: {model_type!r} is an encoder-decoder (seq2seq) model; "
            "use an encoder-only or decoder-only embedding model"
        )
    if model_type not in MODEL_MAPPING_NAMES:
        raise ConfigError(f"encoder.model {folder}: model type {model_type!r} has no transformers AutoModel class")
    tokenizer_files = (
        "tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model",
    )
    if not any((folder / name).is_file() for name in tokenizer_files):
        raise ConfigError(f"encoder.model {folder}: no tokenizer files (tokenizer.json, vocab.txt, ...)")
    return config


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def model_fingerprint(folder: str | os.PathLike) -> str:
    """Hash of the bytes of every file that shapes the vectors (weights, configs, tokenizer).

    Documentation, other frameworks' exports (ONNX, OpenVINO, Flax, TF) and lock files are
    left out, so re-exporting them does not invalidate cached vectors. Nothing is memoised
    by modification time: a checkpoint rewritten within one clock tick must still count as
    new (sha256 reads about 1 GB/s, so even large models hash in seconds).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"model {str(folder)!r}: not a local model folder (resolve names with resolve_model_dir)")
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or _SKIP_DIRS.intersection(rel.parts[:-1]) or path.suffix in _SKIP_SUFFIXES:
            continue
        if path.name.startswith(("README", "LICENSE", ".")):
            continue
        digest.update(f"{rel.as_posix()}\0{_hash_file(path)}\0".encode())
    return digest.hexdigest()[:16]
