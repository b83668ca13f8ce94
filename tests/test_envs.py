"""The pinned conda envs: they parse, pin every package exactly, agree with pyproject.toml,
and every rule uses one. (Conda itself cannot be installed on the development machines.)"""
import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
ENVS = sorted((REPO / "envs").glob("*.yaml"))
CONDA_TO_PIP = {"pytorch": "torch", "cupy": "cupy-cuda12x"}
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)=(?P<version>[0-9][0-9A-Za-z.]*)(=(?P<build>\S+))?$")


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    pins = {}
    for req in requirements:
        name, _, version = req.partition("==")
        assert version, f"pyproject.toml requirement {req!r} is not pinned with =="
        pins[name.lower()] = version
    return pins


def test_there_is_an_env_per_kind_of_rule():
    assert {p.stem for p in ENVS} == {"analysis", "plots", "torch", "gpu"}


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.stem)
def test_env_is_pinned_and_agrees_with_pyproject(env):
    spec = yaml.safe_load(env.read_text())
    assert spec["channels"] == ["conda-forge", "nodefaults"]
    pins = pyproject_pins()
    for dep in spec["dependencies"]:
        m = PIN.match(dep)
        assert m, f"{env.name}: {dep!r} is not pinned as name=version[=build]"
        pip_name = CONDA_TO_PIP.get(m["name"], m["name"]).lower()
        if pip_name in pins:
            assert m["version"] == pins[pip_name], f"{env.name}: {m['name']} {m['version']} but pyproject pins {pins[pip_name]}"
        else:
            assert m["name"] in ("python", "pip"), f"{env.name}: {m['name']} is not pinned in pyproject.toml"


def test_the_gpu_env_takes_cuda_builds():
    deps = yaml.safe_load((REPO / "envs/gpu.yaml").read_text())["dependencies"]
    assert any(d.startswith("pytorch=") and d.endswith("=cuda*") for d in deps)
    assert any(d.startswith("cupy=") for d in deps)


def test_the_data_preparation_env_can_load_hub_datasets():
    deps = yaml.safe_load((REPO / "envs/analysis.yaml").read_text())["dependencies"]
    assert "datasets=5.2.0" in deps
    assert re.search(r"rule prepare_task:(.|\n)*?conda:\s*\n\s+\"\.\./envs/analysis\.yaml\"",
                     (REPO / "rules/data.smk").read_text())


def test_every_rule_names_a_conda_env():
    for smk in (REPO / "rules").glob("*.smk"):
        blocks = re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]
        for block in blocks:
            name = block.split(":")[0]
            m = re.search(r"^\s+conda:\s*\n\s+\"\.\./envs/(\w+)\.yaml\"", block, flags=re.M)
            assert m, f"{smk.name}: rule {name} has no conda: directive"
            assert (REPO / "envs" / f"{m.group(1)}.yaml").is_file()
