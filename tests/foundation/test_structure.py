"""The package's structure holds: the import contracts of ``.importlinter`` (layers, a
ground-floor config loader, only ``gre_ray.wiring`` imports Ray), every wiring module is a
Ray adapter, trial settings are read as attributes of the typed spec, and loading a config,
``gre-ray config`` and ``gre-ray --help`` import none of torch, ray, faiss, scipy,
transformers."""

from __future__ import annotations

import ast
import configparser
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    # In its own process: import-linter's command line replaces and closes the standard
    # streams, which would break every later test's captured output.
    lint = Path(sys.executable).parent / "lint-imports"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # grimp finds gre_ray on sys.path; the contracts name it
    done = subprocess.run([str(lint), "--config", str(ROOT / ".importlinter"), "--no-cache"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and "3 kept" in done.stdout


def test_every_package_but_the_wiring_is_under_the_no_ray_contract():
    # The contract lists its packages; a new top-level module must join it (or be Ray wiring).
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    listed = set(config["importlinter:contract:no-ray-outside-wiring"]["source_modules"].split())
    package = ROOT / "gre_ray"
    present = {f"gre_ray.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    present |= {f"gre_ray.{p.parent.name}" for p in package.glob("*/__init__.py")}
    assert listed == present - {"gre_ray.wiring"}


def test_loading_a_config_imports_neither_torch_nor_ray():
    script = (
        "import json, sys\n"
        "from gre_ray.root_config import load_config\n"
        "config = load_config('configs/demo.yaml', ['benchmark.models_params.deepfm.dim=8'])\n"
        "assert config.benchmark.models_params['deepfm'] == {'mlp': [64, 64], 'dim': 8}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ray'))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


HEAVY = ("torch", "ray", "faiss", "scipy", "transformers")
_HEAVY_LOADED = (
    "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(%r))))\n" % (HEAVY,)
)


def _heavy_modules_after(code: str) -> list[str]:
    """The heavy packages a fresh interpreter has imported after running ``code``."""
    script = "import contextlib, io, json, sys\n" + code + _HEAVY_LOADED
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["config", "configs/demo.yaml"], ["--help"], ["config", "--help"]])
def test_light_commands_import_no_heavy_package(argv):
    # Only the module of the command being run is imported (gre_ray.commands.COMMANDS), and the
    # package faces resolve their names lazily, so printing a config or the help loads none of them.
    code = (
        "from gre_ray.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        assert main({argv!r}) == 0\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0\n"
    )
    assert _heavy_modules_after(code) == []


def test_loading_a_config_imports_no_heavy_package():
    code = "from gre_ray.root_config import load_config\nload_config('configs/demo.yaml', [])\n"
    assert _heavy_modules_after(code) == []


def _imports_ray(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "ray" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "ray":
            return True
    return False


def test_every_wiring_module_is_a_ray_adapter():
    # gre_ray.wiring holds Ray adapters only: orchestration lives in the stages, pure bodies in
    # the domain packages (docs/CONTRIBUTING.md).
    wiring = ROOT / "gre_ray" / "wiring"
    modules = [p for p in sorted(wiring.rglob("*.py")) if p.name != "__init__.py"]
    assert modules
    assert [str(p.relative_to(ROOT)) for p in modules if not _imports_ray(p)] == []


# Reads of a trial's settings by string key, on a variable holding a trial spec.
_SPEC_READ = re.compile(r"""\bspecs?\b(\[\s*["']|\.get\(\s*["'])|\["spec"\]\s*(\[|\.get\()""")
# The modules of the trial spec and its plain form: the spec itself (TrialSpec, and
# TrialRecord for Tune's records of it), the grid that assembles the plain form and the keys
# that hash it whole.
SPEC_MODULES = {"bench/trial_spec.py", "bench/trials.py", "bench/keys.py"}
# Other kinds of specs, read by key on purpose: ray up / KubeRay YAML node types and the
# demo generator's vocabulary.
OTHER_SPECS = {"runner/cluster_spec.py", "demo/generator.py", "demo/transfer.py"}


def test_trial_settings_are_read_as_attributes_outside_the_spec_modules():
    package = ROOT / "gre_ray"
    found = []
    for path in sorted(package.rglob("*.py")):
        name = str(path.relative_to(package))
        if name in SPEC_MODULES | OTHER_SPECS:
            continue
        found += [f"{name}:{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1)
                  if _SPEC_READ.search(line)]
    assert found == []
