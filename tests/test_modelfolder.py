"""Model folders: model.json merged atomically, shipping copies what a run made."""

import json

import pytest

from gan_lab import GanLabError, modelfolder, paths


def test_write_info_merges_and_read_info_names_a_broken_file(tmp_path):
    modelfolder.write_info(tmp_path, a=1)
    modelfolder.write_info(tmp_path, b=2)
    assert modelfolder.read_info(tmp_path) == {"a": 1, "b": 2}
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(GanLabError, match="model.json is not valid JSON"):
        modelfolder.read_info(tmp_path)


def test_ship_copies_the_model_files_a_run_has_and_nothing_else(tmp_path):
    run, shipped = tmp_path / "run", tmp_path / "models" / "faces"
    run.mkdir()
    for name in ("generator.keras", "generator.xml", "generator.bin", "encoder.keras"):
        (run / name).write_bytes(name.encode())
    (run / "history.csv").write_text("epoch\n1\n")
    modelfolder.write_info(run, latent_dim=8)
    copied = modelfolder.ship(run, shipped)
    assert copied[-1] == "model.json"  # last: its presence means the folder is complete
    assert sorted(p.name for p in shipped.iterdir()) == sorted(copied)
    assert "history.csv" not in copied and (shipped / "encoder.keras").read_bytes() == b"encoder.keras"
    assert json.loads((shipped / "model.json").read_text()) == {"latent_dim": 8}


def test_ship_refuses_an_empty_run(tmp_path):
    with pytest.raises(GanLabError, match="holds none of generator.keras"):
        modelfolder.ship(tmp_path, tmp_path / "to")


def test_a_model_folder_without_or_with_a_broken_model_json_is_refused(tmp_path):
    (tmp_path / "generator.onnx").write_bytes(b"x")
    folder = modelfolder.ModelFolder(tmp_path)
    with pytest.raises(GanLabError, match="has no model.json, so it is not a complete model folder"):
        folder.info
    (tmp_path / "model.json").write_text("{broken")
    with pytest.raises(GanLabError, match="model.json is not valid JSON"):
        folder.conversion("generator")
    with pytest.raises(GanLabError, match="no such folder"):
        modelfolder.ModelFolder(tmp_path / "nowhere").info


def test_files_by_backend_and_precision_and_the_conversion_record(tmp_path):
    for name in ("generator.keras", "generator.xml", "generator-int8.xml", "mapping.onnx"):
        (tmp_path / name).write_bytes(b"x")
    folder = modelfolder.ModelFolder(tmp_path)
    folder.record_conversion("mapping", {"parity": {"onnx": {"max_abs": 1e-6}}})
    assert folder.file("generator", "OpenVINO", "int8").name == "generator-int8.xml"
    assert set(folder.files()) == {"keras", "openvino", "openvino-int8"} and folder.stems == ["generator", "mapping"]
    assert [b.name for b in folder.backends("mapping")] == ["onnxruntime"]
    assert folder.conversion("mapping")["parity"]["onnx"]["max_abs"] == 1e-6
    with pytest.raises(GanLabError, match="records no conversion of 'generator'"):
        folder.conversion("generator")


def test_gan_lab_models_chooses_where_shipped_models_live(tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "model.json").write_text("{}")
    monkeypatch.setenv("GAN_LAB_MODELS", str(tmp_path))
    assert paths.models_dir() == tmp_path and modelfolder.ModelFolder.shipped("mnist").path == tmp_path / "mnist"
    monkeypatch.setenv("GAN_LAB_MODELS", str(tmp_path / "missing"))
    with pytest.raises(GanLabError, match="GAN_LAB_MODELS points at .*missing, which is not a folder"):
        paths.models_dir()
    assert paths.models_dir(tmp_path) == tmp_path  # an argument wins over the environment


def test_ship_if_better_keeps_a_better_shipped_model(tmp_path):
    run, shipped = tmp_path / "run", tmp_path / "models" / "m"
    run.mkdir()
    (run / "generator.keras").write_bytes(b"new")
    modelfolder.write_info(run, score=3.0)
    judge = lambda folder: modelfolder.read_info(folder)["score"]  # noqa: E731
    first = modelfolder.ship_if_better(run, shipped, judge)
    assert first["shipped"] and first["shipped_before"] is None and "nothing was shipped yet" in first["reason"]
    modelfolder.write_info(run, score=5.0)  # a worse run on the same judge
    (run / "generator.keras").write_bytes(b"worse")
    second = modelfolder.ship_if_better(run, shipped, judge)
    assert not second["shipped"] and (shipped / "generator.keras").read_bytes() == b"new"
    assert second["reason"] == "kept the shipped model: 5 vs the shipped 3 (lower is better)"
    assert modelfolder.ship_if_better(run, shipped, judge, lower_is_better=False)["shipped"]


def test_shipping_a_new_generator_drops_the_old_ones_int8_and_directions(tmp_path):
    run, shipped = tmp_path / "run", tmp_path / "models" / "m"
    for folder in (run, shipped):
        folder.mkdir(parents=True)
        (folder / "generator.keras").write_bytes(folder.name.encode())
        modelfolder.write_info(folder, name=folder.name)
    (shipped / "directions.npz").write_bytes(b"old")
    (shipped / "directions.json").write_text("{}")
    (shipped / "generator-int8.xml").write_text("<old/>")
    modelfolder.ship(run, shipped, names=("model.json",))  # the card alone: the directions still fit
    assert (shipped / "directions.npz").exists()
    modelfolder.ship(run, shipped)
    assert (shipped / "generator.keras").read_bytes() == b"run" and not (shipped / "directions.npz").exists()
    assert not (shipped / "directions.json").exists() and not (shipped / "generator-int8.xml").exists()
    assert (shipped / "model.json").exists()


def test_the_recorded_ablation_is_read_or_its_absence_named(tmp_path):
    folder = modelfolder.ModelFolder(tmp_path)
    with pytest.raises(GanLabError, match="ablation.json does not exist: no ablation was recorded"):
        folder.ablation()
    (tmp_path / "ablation.json").write_text('{"runs": [{"name": "baseline"}]}')
    assert folder.ablation()["runs"][0]["name"] == "baseline"


def test_paths_are_shown_relative_to_the_repository_or_the_home_folder(tmp_path):
    from pathlib import Path

    from gan_lab import paths

    assert paths.shown(paths.CHECKOUT / "models" / "face-classifier") == "models/face-classifier"
    assert paths.shown(paths.CHECKOUT) == "."
    assert paths.shown(Path.home() / ".cache" / "gan_lab" / "faces") == "~/.cache/gan_lab/faces"
    outside = Path("/opt/elsewhere/x")  # neither in the repository nor at home: as it is
    assert paths.shown(outside) == str(outside)


def test_data_messages_name_folders_without_the_machines_absolute_path(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    from gan_lab.data import folders
    from PIL import Image

    monkeypatch.setattr(Path, "home", staticmethod(lambda: tmp_path))
    for i in range(2):
        Image.new("RGB", (8, 8), (i * 90, 0, 0)).save(tmp_path / f"{i}.png")
    folders.read(tmp_path, image_size=8)
    out = capsys.readouterr().out
    assert out.startswith("~: 2 images") and str(tmp_path) not in out, out
