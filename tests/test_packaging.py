"""The project's set-up files agree with each other and with the README."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + sum(project["optional-dependencies"].values(), [])}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(r) for r in pip if not r.startswith("-e")}
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"
    assert "python=3.11" in env["dependencies"] and "-e ." in pip


def test_pyproject_declares_the_required_packages_and_console_script():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for required in ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "openvino", "nncf",
                     "jupyterlab", "ipywidgets", "matplotlib", "nbval"):
        assert required in names
    assert project["scripts"]["gan-lab"] == "gan_lab.cli:main"


def test_constraints_pin_every_dependency():
    pins = {_name(line) for line in (ROOT / "constraints.txt").read_text().splitlines()
            if line and not line.startswith("#")}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {_name(r) for r in project["dependencies"] + sum(project["optional-dependencies"].values(), [])} <= pins


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_no_pickle_in_the_package():
    for path in (ROOT / "gan_lab").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import pickle|from pickle|import joblib|import dill)", text, re.M), path
        assert "allow_pickle=True" not in text, path


@pytest.mark.subprocess
@pytest.mark.slow
def test_a_wheel_installed_elsewhere_generates_from_the_models_named_by_gan_lab_models(tmp_path):
    """A non-editable install: the wheel, unpacked into a folder of its own, run from another folder,
    finds the shipped models only through GAN_LAB_MODELS (nothing derived from the source tree)."""
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", wheels, ROOT], check=True,
                   cwd=tmp_path)
    (wheel,) = wheels.glob("gan_lab-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", target, wheel], check=True)
    env = {**os.environ, "PYTHONPATH": str(target), "GAN_LAB_MODELS": str(ROOT / "models")}
    code = ("import gan_lab, gan_lab.paths as p, sys; assert gan_lab.__file__.startswith(sys.argv[1]), gan_lab.__file__;"
            "print(p.models_dir())")
    where = subprocess.run([sys.executable, "-c", code, str(target)], env=env, cwd=elsewhere, capture_output=True,
                           text=True)
    assert where.returncode == 0 and where.stdout.strip() == str(ROOT / "models"), where.stderr
    done = subprocess.run([sys.executable, "-m", "gan_lab", "generate", str(ROOT / "models/mnist/generator.xml"),
                           "-n", "4", "--out", "grid.png"], env=env, cwd=elsewhere, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "grid.png").stat().st_size > 0
    unset = {k: v for k, v in env.items() if k != "GAN_LAB_MODELS"}
    missing = subprocess.run([sys.executable, "-c", "import gan_lab.paths as p; p.models_dir()"], env=unset,
                             cwd=elsewhere, capture_output=True, text=True)
    assert missing.returncode != 0 and "set GAN_LAB_MODELS" in missing.stderr
