"""Model folders: model.json merged atomically, shipping copies what a run made."""

import json

import pytest

from gan_lab import GanLabError, modelfolder


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
