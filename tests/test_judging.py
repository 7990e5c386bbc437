"""`gan-lab judge`: the face judge on model folders, generator files and a run's kept epochs."""

import json

import pytest

from gan_lab import cli, paths
from gan_lab.metrics import face_attributes as face_metrics
from gan_lab.metrics import two_sample
from gan_lab.data import procedural_faces
from gan_lab.runtime import load_generator
from gan_lab.training import face_models as face_training

FACES = ["-n", "50", "--n-faces", "1500"]  # the judge's real faces: 150 test faces of unseen people


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("judge")
    data = procedural_faces.write_celeba_layout(root / "faces", 160, size=64, seed=3, progress=False)
    face_training.train("dcgan", root / "run", 2, data=str(data), n_faces=160, base=8, latent_dim=16, xla=False,
                        grid_every=1, checkpoint_every=1)
    return root / "run"


@pytest.mark.slow
def test_judge_rows_for_a_model_and_every_kept_epoch_of_a_run(tiny_run, tmp_path, capsys):
    shipped = paths.shipped("faces-dcgan")
    assert cli.main(["judge", str(shipped), *FACES, "--json", str(tmp_path / "a.json")]) == 0
    assert cli.main(["judge", str(tiny_run), "--epochs", "all", *FACES, "--no-two-sample",
                     "--json", str(tmp_path / "b.json")]) == 0
    model, epochs = (json.loads((tmp_path / f"{k}.json").read_text()) for k in "ab")
    generator = load_generator(shipped)
    direct = face_metrics.judge(generator.generate, generator.latent_dim, n=50, n_faces=1_500)
    assert model["faces-dcgan"] | face_metrics.summary(direct) == model["faces-dcgan"]  # the judge's own figures
    assert model["faces-dcgan"]["ship_score"] == face_metrics.ship_score(direct)
    caught = two_sample.judge(generator.generate, generator.latent_dim, n=50, seed=1, n_faces=1_500)["accuracy"]
    assert model["faces-dcgan"]["caught"] == round(caught, 3) and model["faces-dcgan"]["attributes"] == 40
    assert list(epochs) == ["run epoch 1", "run epoch 2"] and all("caught" not in r for r in epochs.values())
    out = capsys.readouterr().out
    assert "faces-dcgan" in out and "run epoch 2" in out and "within 10 pts" in out


@pytest.mark.slow
def test_judge_refuses_what_it_cannot_read(tiny_run, tmp_path, capsys):
    assert cli.main(["judge", str(paths.shipped("mnist")), *FACES]) == 1
    assert "draws (28, 28, 1) images; the face judge reads 64x64 colour faces" in capsys.readouterr().err
    assert cli.main(["judge", str(tiny_run), "--epochs", "7", *FACES]) == 1
    assert "choose one of those epochs" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main(["judge", str(tmp_path / "empty"), "--epochs", "all", *FACES]) == 1
    assert "keeps no checkpoints to judge; train with --keep N" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["judge", str(tiny_run), "--epochs", "4,x"])
