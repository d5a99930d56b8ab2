"""``gre-ray plan``: the shipped configs fit the shipped clusters, misfits are one line each.

Offline: the command reads a ``ray up`` YAML or KubeRay manifest and the stages' declared
needs; no Ray is started (the test session's Ray is not touched).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gre_ray.cli import main
from gre_ray.errors import ConfigError
from gre_ray.runner.cluster_spec import kuberay_limits, load_cluster
from gre_ray.runner.resources import Need, precision_issue

ROOT = Path(__file__).parents[2]
CLUSTERS = ["cluster/aws-gpu.yaml", "cluster/gcp-gpu.yaml", "cluster/kuberay/raycluster.yaml",
            "cluster/kuberay/rayjob-gre-b.yaml"]
CONFIGS = ["configs/gre.yaml", "configs/gre_b.yaml", "configs/demo.yaml", "configs/gre.smoke.yaml",
           "configs/gre_b.smoke.yaml", "configs/demo.smoke.yaml"]
# The Ray every cluster node installs (the cloud YAMLs' setup commands), which the images must match.
PINNED_RAY = re.search(r"ray\[[^\]]*\]==([\d.]+)", (ROOT / "cluster" / "aws-gpu.yaml").read_text()).group(1)


def plan(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["plan", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("cluster", CLUSTERS)
@pytest.mark.parametrize("config", CONFIGS)
def test_every_shipped_config_fits_every_shipped_cluster(capsys, monkeypatch, config, cluster):
    monkeypatch.chdir(ROOT)
    code, out, err = plan(capsys, config, "--cluster", cluster)
    assert (code, err) == (0, ""), out + err
    assert "NO" not in out.split()


def test_a_need_larger_than_the_cluster_is_one_line_naming_setting_need_and_total(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, err = plan(capsys, "configs/gre.yaml", "--cluster", "cluster/aws-gpu.yaml",
                          "--set", "contrastive.scaling.num_workers=64")
    assert code == 2
    assert err.splitlines() == [
        "gre-ray: error: contrastive.scaling: 64 worker(s) x {CPU: 1, GPU: 1} need 64 GPU, but the cluster can hold "
        "at most 8 GPU (ray.worker.gpu: 8 x 1; max_workers 8)"
    ]
    assert re.search(r"^mlm\s+mlm.scaling\s+8 worker\(s\) x \{CPU: 1, GPU: 1\}, bf16\s+fits \(ray.worker.gpu\)$",
                     out, re.MULTILINE), out


def _cluster_yaml(tmp_path: Path, node_config: dict, gpus: int = 1) -> Path:
    config = {
        "cluster_name": "t", "max_workers": 8, "provider": {"type": "aws", "region": "us-west-2"},
        "head_node_type": "head",
        "available_node_types": {
            "head": {"resources": {"CPU": 8}, "node_config": {"InstanceType": "m6i.2xlarge"}},
            "gpu": {"resources": {"CPU": 8, "GPU": gpus}, "node_config": node_config, "min_workers": 0,
                    "max_workers": 8},
        },
    }
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_bf16_on_pre_ampere_gpus_is_a_misfit_naming_the_precision_setting(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    t4 = _cluster_yaml(tmp_path, {"InstanceType": "g4dn.2xlarge"})
    code, _, err = plan(capsys, "configs/gre.yaml", "--cluster", str(t4))
    assert code == 2
    assert (
        "gre-ray: error: contrastive.deepspeed.precision: bf16 is not native on gpu (T4) (pre-Ampere); set it to "
        "fp16 / float16, or use GPUs with bf16 (A10G, L4, A100, H100)"
    ) in err.splitlines()
    assert any(line.startswith("gre-ray: error: embed.encoder.dtype: bf16") for line in err.splitlines())
    code, _, err = plan(capsys, "configs/gre.yaml", "--cluster", str(t4), "--set", "embed.encoder.dtype=float16",
                        "--set", "mlm.deepspeed.precision=fp16", "--set", "contrastive.deepspeed.precision=fp16")
    assert (code, err) == (0, "")


def test_an_unknown_accelerator_is_a_note_and_the_plan_goes_on(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    odd = _cluster_yaml(tmp_path, {"InstanceType": "zz9.4xlarge"})
    code, out, err = plan(capsys, "configs/gre.yaml", "--cluster", str(odd))
    assert (code, err) == (0, "")
    assert ("note: contrastive.deepspeed.precision: cannot judge bf16 on gpu (zz9.4xlarge): the cluster config names "
            "no accelerator this check knows") in out.splitlines()


def test_precision_is_judged_on_the_node_types_that_can_host_the_need():
    from gre_ray.runner.resources import ClusterLimits, NodeType

    limits = ClusterLimits((NodeType("a100", {"CPU": 8, "GPU": 8}, 1, "A100"), NodeType("t4", {"CPU": 8, "GPU": 1}, 4, "T4")))
    one = Need("x", "actor", {"CPU": 1, "GPU": 1}, precision=("bf16", "embed.encoder.dtype"))
    assert precision_issue(one, limits) == (None, None)  # the A100 node can take it
    big = Need("x", "actor", {"CPU": 1, "GPU": 4}, precision=("bf16", "embed.encoder.dtype"))
    assert precision_issue(big, limits) == (None, None)
    only_t4 = ClusterLimits((NodeType("t4", {"CPU": 8, "GPU": 1}, 4, "T4"),))
    assert precision_issue(one, only_t4)[0].startswith("embed.encoder.dtype: bf16 is not native on t4 (T4)")
    fp16 = Need("x", "actor", {"CPU": 1, "GPU": 1}, precision=("fp16", "embed.encoder.dtype"))
    assert precision_issue(fp16, only_t4) == (None, None)


def test_gcp_accelerators_are_read_from_the_machine_series_or_the_attached_type():
    from gre_ray.runner.cluster_spec import ray_up_limits

    def accelerator(node_config: dict) -> str | None:
        limits = ray_up_limits({"available_node_types": {"w": {"resources": {"CPU": 8, "GPU": 1}, "node_config": node_config}}})
        return limits.node_types[0].accelerator

    assert accelerator({"machineType": "g2-standard-8"}) == "L4"
    assert accelerator({"machineType": "n1-standard-8", "guestAccelerators": [{"acceleratorType": "nvidia-tesla-t4"}]}) == "T4"
    assert accelerator({"machineType": "n1-standard-8", "guestAccelerators": [{"acceleratorType": "nvidia-new-x"}]}) == "nvidia-new-x"
    assert load_cluster(ROOT / "cluster/gcp-gpu.yaml").largest("GPU") == (1.0, "ray_worker_gpu")


def test_a_local_provider_yaml_cannot_be_judged_offline_and_says_so(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, err = plan(capsys, "configs/gre.yaml", "--cluster", "cluster/onprem.yaml")
    assert (code, err) == (0, "")
    assert "nothing can be judged offline" in out.splitlines()[0]
    assert load_cluster(ROOT / "cluster/onprem.yaml") is None


@pytest.mark.parametrize("text, message", [
    ("kind: Deployment\n", "neither a `ray up` cluster YAML"),
    ("a: [1\n", "not valid YAML"),
])
def test_a_file_that_is_no_cluster_config_is_one_line(tmp_path, text, message):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_cluster(path)
    with pytest.raises(ConfigError, match=r"cannot read the cluster config"):
        load_cluster(tmp_path / "missing.yaml")


def _manifest(name: str) -> dict:
    return yaml.safe_load((ROOT / "cluster" / "kuberay" / name).read_text())


@pytest.mark.parametrize("name", ["raycluster.yaml", "rayjob-gre-b.yaml"])
def test_kuberay_manifests_autoscale_gpu_workers_from_zero_with_token_auth_at_the_pinned_ray(name):
    doc = _manifest(name)
    cluster = doc["spec"]["rayClusterSpec"] if doc["kind"] == "RayJob" else doc["spec"]
    assert doc["apiVersion"] == "ray.io/v1"
    assert cluster["rayVersion"] == PINNED_RAY
    assert cluster["enableInTreeAutoscaling"] is True and cluster["autoscalerOptions"]["version"] == "v2"
    assert cluster["authOptions"] == {"mode": "token", "secretName": "gre-ray-auth"}
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["num-gpus"] == "0"
    head_limits = head["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert "nvidia.com/gpu" not in head_limits
    assert head["serviceType"] == "ClusterIP"
    (gpu,) = cluster["workerGroupSpecs"]
    assert gpu["minReplicas"] == 0 and gpu["maxReplicas"] >= 8
    assert gpu["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    for spec in (head, gpu):
        image = spec["template"]["spec"]["containers"][0]["image"]
        assert image.endswith(f":{PINNED_RAY}-py311-gpu"), image
    limits = kuberay_limits(doc)
    assert [(t.name, t.resources, t.max_nodes, t.accelerator) for t in limits.node_types] == [
        ("head", {"CPU": 8.0}, 1, None), ("gpu", {"CPU": 8.0, "GPU": 1.0}, 8, "L4"),
    ]


def test_the_rayjob_runs_the_project_entry_point_and_bounds_its_life():
    spec = _manifest("rayjob-gre-b.yaml")["spec"]
    assert spec["entrypoint"].startswith("python -m jobs.pipeline --config configs/gre_b.yaml")
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec["activeDeadlineSeconds"] > 0 and spec["backoffLimit"] >= 0
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["working_dir"] == "/home/ray/gre_ray"
    dockerfile = (ROOT / "cluster" / "kuberay" / "Dockerfile").read_text()
    assert f"FROM rayproject/ray:{PINNED_RAY}-py311-gpu" in dockerfile
    assert "WORKDIR /home/ray/gre_ray" in dockerfile


def test_every_job_command_in_the_readme_has_one_form():
    readme = (ROOT / "README.md").read_text()
    text = readme.replace("\\\n", " ")  # shell line continuations
    commands = [" ".join(found.split()) for found in re.findall(r"ray job submit --[^\n`]*", text)]
    assert len(commands) >= 3
    for command in commands:
        assert re.search(r"--address http://127\.0\.0\.1:8265 --working-dir (\.|\"local://\$PWD\") "
                         r"--runtime-env jobs/runtime_env\.yaml (--no-wait )?-- python -m jobs\.\w+ ", command), command


def test_pinned_ray_is_the_one_installed_here_and_on_every_cluster():
    import ray

    assert ray.__version__ == PINNED_RAY
    for path in ["cluster/gcp-gpu.yaml", "cluster/onprem.yaml"]:
        assert f"=={PINNED_RAY}" in (ROOT / path).read_text(), path
