"""The face DCGAN and VAE: builders, the VAE's train_step, a whole run with resume, the CLI."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from gan_lab import GanLabError, bench
from gan_lab.data import procedural_faces
from gan_lab.metrics import face_attributes as face_metrics
from gan_lab.metrics import two_sample
from gan_lab.models import dcgan, vae
from gan_lab.runtime import load_generator
from gan_lab.training import face_models as face_training
from gan_lab.training.vae import VAE, kl_divergence, reconstruction_error

TINY = {"n_faces": 160, "base": 8, "latent_dim": 16, "xla": False, "grid_every": 1, "checkpoint_every": 1}


@pytest.fixture(scope="module")
def face_folder(tmp_path_factory):
    """160 procedural faces (about 80% for training, split by person) in CelebA's layout, at 64 px."""
    root = tmp_path_factory.mktemp("faces")
    return procedural_faces.write_celeba_layout(root, 160, size=64, seed=3, progress=False)


@pytest.mark.parametrize("size", [32, 64, 128])
def test_dcgan_shapes_at_each_size(size):
    g, d = dcgan.build(latent_dim=16, image_size=size, base=8)
    images = g(np.zeros((2, 16), np.float32))
    assert images.shape == (2, size, size, 3)
    assert d(images).shape == (2, 1)
    assert float(keras.ops.max(keras.ops.abs(images))) <= 1.0  # tanh


def test_dcgan_minibatch_std_lets_the_discriminator_see_the_batch():
    keras.utils.set_random_seed(0)
    _, d = dcgan.build(latent_dim=16, base=8, mbstd=True)
    rng = np.random.default_rng(0)
    first = rng.uniform(-1, 1, (1, 64, 64, 3)).astype("float32")
    same = np.repeat(first, 4, axis=0)  # a batch without variety
    varied = np.concatenate([first, rng.uniform(-1, 1, (3, 64, 64, 3)).astype("float32")])
    logit = d.get_layer("logit")
    logit.kernel.assign(np.ones(logit.kernel.shape, "float32"))  # N(0, 0.02) weights hide the effect at init
    assert abs(float(d(same)[0, 0]) - float(d(varied)[0, 0])) > 1e-3  # the first face's logit sees its batch-mates
    spread = keras.Model(d.inputs, d.get_layer("mbstd").output)
    np.testing.assert_allclose(np.asarray(spread(same))[..., -1], 1e-4, atol=1e-6)  # sqrt(0 + 1e-8): no variety
    assert np.asarray(spread(varied))[..., -1].min() > 2e-4  # small at init (N(0, 0.02) weights), but there
    assert "mbstd" not in [layer.name for layer in dcgan.build(latent_dim=16, base=8)[1].layers]


def test_unsupported_image_size_is_refused():
    with pytest.raises(GanLabError, match="image_size 48 is not supported; choose one of"):
        dcgan.generator(image_size=48)


def test_default_widths_cost_what_the_docstring_says():
    g, d = dcgan.build()
    assert bench.flops_per_image(g) == pytest.approx(31.5e6, rel=0.01)
    assert bench.flops_per_image(d) == pytest.approx(30.7e6, rel=0.01)


def test_vae_encoder_decoder_shapes():
    encoder, decoder = vae.build(latent_dim=16, image_size=32, base=8)
    z_mean, z_log_var = encoder(np.zeros((3, 32, 32, 3), np.float32))
    assert z_mean.shape == z_log_var.shape == (3, 16)
    assert decoder(z_mean).shape == (3, 32, 32, 3)


def test_kl_is_zero_for_the_prior_and_positive_otherwise():
    zeros = np.zeros((2, 4), np.float32)
    np.testing.assert_allclose(kl_divergence(zeros, zeros), [0, 0], atol=1e-7)
    mean = np.array([[1, 0, 0, 0], [0, 0, 0, 0]], np.float32)
    log_var = np.array([[0, 0, 0, 0], [np.log(4), 0, 0, 0]], np.float32)
    np.testing.assert_allclose(kl_divergence(mean, log_var), [0.5, 0.5 * (4 - 1 - np.log(4))], rtol=1e-6)


def test_reconstruction_error_sums_squares_per_image():
    a, b = np.zeros((2, 2, 2, 3), np.float32), np.full((2, 2, 2, 3), 0.5, np.float32)
    np.testing.assert_allclose(reconstruction_error(a, b), [3.0, 3.0])


def test_vae_train_step_updates_encoder_and_decoder():
    keras.utils.set_random_seed(0)
    model = VAE(*vae.build(latent_dim=8, image_size=32, base=8), beta=0.5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.build_optimizers()
    e0, d0 = model.encoder.get_weights()[0].copy(), model.decoder.get_weights()[0].copy()
    images = np.random.default_rng(0).uniform(-1, 1, (16, 32, 32, 3)).astype(np.float32)
    logs = model.train_step(keras.ops.convert_to_tensor(images))
    assert set(logs) == {"loss", "reconstruction", "kl"}
    assert float(logs["loss"]) == pytest.approx(float(logs["reconstruction"]) + 0.5 * float(logs["kl"]), rel=1e-5)
    assert not np.allclose(e0, model.encoder.get_weights()[0])
    assert not np.allclose(d0, model.decoder.get_weights()[0])


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(GanLabError, match=r"Unknown vae option\(s\) \['loss'\]; valid: .*'beta'"):
        face_training.options("vae", {"loss": "hinge"})
    with pytest.raises(GanLabError, match="Unknown face model 'cyclegan'"):
        face_training.options("cyclegan", {})


def test_data_that_is_neither_procedural_nor_a_folder_is_refused(tmp_path):
    with pytest.raises(GanLabError, match="neither 'procedural' nor an existing CelebA folder"):
        face_training.train("dcgan", tmp_path / "run", 1, data=str(tmp_path / "missing"), **TINY)


@pytest.mark.slow
def test_vae_run_saves_decoder_and_encoder_and_resumes(face_folder, tmp_path):
    out = tmp_path / "vae"
    result, model = face_training.train("vae", out, 1, data=str(face_folder), **TINY)
    assert result.epochs_done == 1 and (out / "samples" / "epoch-0001.png").exists()
    info = json.loads((out / "model.json").read_text())
    assert info["latent_dim"] == 16 and info["image_shape"] == [64, 64, 3] and info["architecture"] == "vae"
    in_train = sum(line.split()[1] == "0" for line in (face_folder / "list_eval_partition.txt").open())
    assert info["train_images"] == in_train and info["data_source"] == str(face_folder)
    encoder = keras.saving.load_model(out / "encoder.keras", safe_mode=True)
    assert encoder.name == "encoder"
    generator = load_generator(out / "generator.keras")
    assert generator.generate(generator.sample_latents(2, seed=0)).shape == (2, 64, 64, 3)

    again, _ = face_training.train("vae", out, 2, data=str(face_folder), resume=True, **TINY)
    rows = (out / "history.csv").read_text().strip().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == [1, 2]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["ckpt-000001", "ckpt-000002"]


@pytest.mark.slow
def test_same_seed_same_dcgan(face_folder, tmp_path):
    runs = [face_training.train("dcgan", tmp_path / f"run{i}", 1, data=str(face_folder), seed=5, **TINY)[1]
            for i in range(2)]
    z = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
    a, b = (np.asarray(r.sampler(z, training=False)) for r in runs)
    np.testing.assert_array_equal(a, b)


def gan_lab(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "gan_lab", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.subprocess
def test_cli_trains_a_face_dcgan(face_folder, tmp_path):
    out = tmp_path / "dc"
    done = gan_lab("train", "dcgan", "--data", str(face_folder), "--epochs", "1", "--out", str(out),
                   "--base", "8", "--no-xla", "--max-images", "64", "--d-mbstd")
    assert done.returncode == 0, done.stderr
    assert "Trained to epoch 1," in done.stdout
    card = json.loads((out / "model.json").read_text())
    assert card["train_images"] == 64 and card["toolkit"]["d_mbstd"] is True


@pytest.mark.slow
def test_release_judges_converts_times_and_ships_only_what_beats_the_shipped_model(face_folder, tmp_path):
    from gan_lab import modelfolder, release

    run, shipped = tmp_path / "run", tmp_path / "shipped"
    face_training.train("dcgan", run, 1, data=str(face_folder), seed=1, **TINY)
    judge = {"n": 50, "n_faces": 1_500}
    compared = release.judge_beside_shipped(run, shipped, **judge)
    assert list(compared) == ["this run"] and compared["this run"]["judge"]["n"] == 50  # nothing shipped yet
    exported = release.convert_and_time(run, seed=1, seconds=0.2)
    assert (run / "generator.xml").exists() and exported["report"]["ovc_command"].startswith("ovc")
    assert 0 < exported["median_ms"] <= exported["p95_ms"] and exported["generator"].backend == "openvino"

    quality = compared["this run"]
    first = release.finish(run, shipped, quality, exported, made_by={"notebook": "test"})
    assert first["shipped"] and "nothing was shipped yet" in first["reason"]
    card = modelfolder.read_info(shipped)
    assert card["made_by"] == {"notebook": "test"} and card["openvino_latency_ms"]["median"] > 0
    assert card["quality"] == json.loads(json.dumps(face_metrics.card_quality(quality)))
    assert card["quality"]["samples"] == 50 and len(card["quality"]["rate_gaps"]) == 40  # readable without judging
    generator = load_generator(run / "generator.keras")
    caught = two_sample.judge(generator.generate, generator.latent_dim, 50, 1, n_faces=1_500)
    assert card["two_sample"] == json.loads(json.dumps(two_sample.card(caught)))  # the share the detector catches
    assert release._two_sample(run, {"n": 20}) == {}  # too few faces to train the detector on: not recorded
    again = release.finish(run, shipped, quality, exported, made_by={"notebook": "test"})  # the same model: not better
    assert not again["shipped"] and again["reason"].startswith("kept the shipped model")
    assert release.judge_beside_shipped(run, shipped, **judge).keys() == {"this run", "shipped model"}
    assert not release.finish(run, None, quality, exported, made_by={})["shipped"]
