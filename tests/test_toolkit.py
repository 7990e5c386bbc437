"""The training toolkit, part by part: DiffAugment, spectral norm, lazy R1, upsample-then-convolve
generators, the EMA half-life, separate optimizers and the wall-clock budget."""

import json
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from gan_lab import GanLabError, modelfolder
from gan_lab.models import blocks, dcgan
from gan_lab.models import mnist as mnist_models
from gan_lab.training import augment, callbacks, losses, runs, toolkit
from gan_lab.training.gan import GAN


@pytest.fixture
def seed():
    return keras.random.SeedGenerator(0)


def test_policies_parse_and_unknown_ones_are_refused():
    assert augment.parse("color, translation,cutout") == ("color", "translation", "cutout")
    assert augment.parse(None) == augment.parse("none") == ()
    with pytest.raises(GanLabError, match="Unknown augmentation rotate; DiffAugment policies are color"):
        augment.parse("color,rotate")
    with pytest.raises(GanLabError, match="Unknown augmentation"):
        toolkit.check(toolkit.GAN_OPTIONS | {"augment": "flip"})


def test_translation_moves_whole_images_by_at_most_an_eighth(seed):
    x = tf.constant(np.arange(16 * 16, dtype="float32").reshape(1, 16, 16, 1).repeat(64, 0) + 1)
    out = augment.translation(x, seed).numpy()
    for img in out:
        ys, xs = np.nonzero(img[..., 0])
        kept = img[img > 0]
        first = int(kept.min()) - 1  # the original index of the first pixel kept
        oy, ox = divmod(first, 16)
        shift_y, shift_x = ys.min() - oy, xs.min() - ox
        assert abs(shift_y) <= 2 and abs(shift_x) <= 2  # 16 / 8
        np.testing.assert_array_equal(np.roll(np.roll(x[0].numpy(), shift_y, 0), shift_x, 1)[img > 0], kept)
    assert len({tuple(np.argwhere(img[..., 0] > 0).min(0)) for img in out}) > 3  # per-image shifts


def test_cutout_zeroes_one_square_per_image(seed):
    out = augment.cutout(tf.ones((32, 16, 16, 3)), seed, ratio=0.5).numpy()
    for img in out:
        hole = np.argwhere(img[..., 0] == 0)
        assert len(hole) > 0 and (img[..., 0] == img[..., 2]).all()  # the same square in every channel
        (y0, x0), (y1, x1) = hole.min(0), hole.max(0)
        assert (img[y0:y1 + 1, x0:x1 + 1] == 0).all() and y1 - y0 < 9 and x1 - x0 < 9  # one square, half the side


def test_color_is_an_affine_map_per_image(seed):
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 3)).astype("float32"))
    out = augment.color(x, seed).numpy()
    assert not np.allclose(out, x.numpy())
    gray = tf.constant(np.random.default_rng(1).uniform(-1, 1, (4, 8, 8, 1)).astype("float32"))
    moved = augment.color(gray, seed).numpy()  # one channel: brightness and contrast, a line per image
    for a, b in zip(gray.numpy().ravel().reshape(4, -1), moved.reshape(4, -1)):
        assert np.corrcoef(a, b)[0, 1] > 0.999


def test_diff_augment_is_differentiable_under_xla(seed):
    x = tf.Variable(np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 3)).astype("float32"))

    @tf.function(jit_compile=True)
    def grad():
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(augment.diff_augment(x, "color,translation,cutout", seed) ** 2)
        return tape.gradient(total, x)

    assert float(tf.reduce_sum(tf.abs(grad()))) > 0


class CountingGAN(GAN):
    """Counts what goes through DiffAugment: real and fake in D's step, fake in G's step."""

    seen = []

    def _augment(self, images):
        CountingGAN.seen.append(images.shape[0])
        return super()._augment(images)


def _tiny_gan(cls=GAN, **compile_options):
    keras.utils.set_random_seed(0)
    g, d = mnist_models.build("dcgan", latent_dim=8, g_widths=(8, 4), d_widths=(4, 8), norm="spectral")
    gan = cls(g, d, seed=0, ema_half_life=640)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(2e-3), **compile_options)
    gan.build_optimizers()
    return gan


def test_augmentation_reaches_reals_and_fakes_in_both_steps(digits_subset):
    CountingGAN.seen = []
    gan = _tiny_gan(CountingGAN, augment="translation,cutout", cutout=0.25)
    gan.train_step(tf.constant(digits_subset[:16]))
    assert CountingGAN.seen == [16, 16, 16]  # fake and real for D, fake for G


def test_spectral_norm_replaces_batch_norm_in_the_discriminator():
    d = dcgan.discriminator(32, norm="spectral", base=8)
    kinds = [type(layer).__name__ for layer in d.layers]
    assert kinds.count("SpectralNorm") == 4 and "BatchNormalization" not in kinds
    with pytest.raises(GanLabError, match="Unknown discriminator normalisation"):
        dcgan.discriminator(32, norm="layer")


@pytest.mark.parametrize("inner", [layers.Conv2D(6, 3, strides=2, padding="same"), layers.Dense(6)])
def test_spectral_norm_divides_the_kernel_by_its_largest_singular_value(tmp_path, inner):
    """Power iterations across training calls converge to the top singular value; the kernel variable
    itself is never overwritten, the gradient reaches it, and the layer saves and loads safely."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 8, 8, 5) if isinstance(inner, layers.Conv2D) else (4, 5)).astype("float32")
    sn = blocks.SpectralNorm(inner)
    sn(x)
    # A kernel with a known spectrum (7, 3.5, ...): power iteration converges as (3.5/7)^steps, so the
    # check does not hang on the spectral gap a random initialisation happens to draw.
    shape = tuple(inner.kernel.shape)
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    k = min(rows, cols)
    u, _ = np.linalg.qr(rng.normal(size=(rows, k)))
    v, _ = np.linalg.qr(rng.normal(size=(cols, k)))
    spectrum = np.array([7.0, 3.5, 3.0, 2.5, 2.0, 1.5])[:k]
    kernel = ((u * spectrum) @ v.T).reshape(shape).astype("float32")
    inner.kernel.assign(kernel)
    for _ in range(100):
        sn(x, training=True)
    sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
    plain = np.asarray(inner(x)) - (np.asarray(inner.bias) if inner.use_bias else 0)
    expected = plain / sigma + (np.asarray(inner.bias) if inner.use_bias else 0)
    np.testing.assert_allclose(np.asarray(sn(x)), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(inner.kernel), kernel)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(sn(x, training=True) ** 2)
    assert float(tf.reduce_sum(tf.abs(tape.gradient(loss, inner.kernel)))) > 0
    model = keras.Sequential([keras.Input(x.shape[1:]), sn])
    model.save(tmp_path / "sn.keras")
    again = keras.models.load_model(tmp_path / "sn.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)


def test_spectral_norm_refuses_a_layer_without_a_plain_kernel():
    with pytest.raises(GanLabError, match="SpectralNorm wraps a Dense or an ungrouped channels-last Conv2D"):
        blocks.SpectralNorm(layers.Conv2DTranspose(4, 3))(np.zeros((1, 4, 4, 2), "float32"))


def test_upsampling_generators_have_no_transposed_convolution():
    g = dcgan.generator(16, 32, base=8, upsample="bilinear")
    assert not any(isinstance(layer, layers.Conv2DTranspose) for layer in g.layers)
    assert g(np.zeros((2, 16), "float32")).shape == (2, 32, 32, 3)
    g = mnist_models.conv_generator(8, (8, 4), upsample="nearest")
    assert g(np.zeros((1, 8), "float32")).shape == (1, 28, 28, 1)


def test_r1_is_the_squared_input_gradient_and_lazy():
    w = np.arange(12, dtype="float32").reshape(2, 2, 3)
    image = keras.Input((2, 2, 3))
    d = keras.Model(image, layers.Dense(1, use_bias=False)(layers.Flatten()(image)))
    d.layers[-1].kernel.assign(w.reshape(12, 1))
    x = tf.constant(np.random.default_rng(0).normal(size=(5, 2, 2, 3)).astype("float32"))
    assert float(losses.r1_penalty(d, x)) == pytest.approx(float((w ** 2).sum()))  # linear D: grad = w
    gan = _tiny_gan(r1_gamma=2.0, r1_every=4)
    real = tf.constant(np.zeros((2, 28, 28, 1), "float32"))
    due = []
    for step in range(8):
        gan.d_optimizer.iterations.assign(step)
        due.append(float(gan._r1(real)) != 0.0)
    assert due == [True, False, False, False, True, False, False, False]


def test_ema_half_life_sets_the_decay_from_the_batch(digits_subset):
    gan = _tiny_gan()
    gan.g_optimizer.iterations.assign(10_000)  # past the warm-up
    before = [w.numpy() for w in gan.ema_generator.weights]
    live = [w.numpy() for w in gan.generator.weights]
    gan._update_ema(64)
    decay = 0.5 ** (64 / 640)
    for avg, old, new in zip(gan.ema_generator.weights, before, live):
        np.testing.assert_allclose(avg.numpy(), decay * old + (1 - decay) * new, rtol=1e-5, atol=1e-6)


def test_separate_learning_rates_and_betas():
    g, d = mnist_models.build("mlp", latent_dim=8, g_widths=(8,), d_widths=(8,))
    cfg = toolkit.GAN_OPTIONS | {"lr_g": 1e-3, "lr_d": 4e-3, "beta_1": 0.0, "beta_2": 0.99, "lr_decay": "constant"}
    gan = toolkit.compile_gan(g, d, cfg, steps=None, seed=0, xla=False)
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(1e-3)
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(4e-3)
    assert gan.d_optimizer.beta_1 == 0.0 and gan.g_optimizer.beta_2 == 0.99


def test_a_cosine_rate_decays_over_steps_or_else_over_the_budget():
    assert isinstance(toolkit.learning_rate(1e-3, "cosine", 100), keras.optimizers.schedules.CosineDecay)
    assert toolkit.learning_rate(1e-3, "constant", None) == 1e-3
    rate = toolkit.learning_rate(1e-3, "cosine", None)  # a budget-only run: no known number of steps
    for spent, expected in ((0.0, 1e-3), (0.5, 5e-4), (1.0, 0.0), (1.3, 0.0)):
        rate.progress.assign(spent)
        assert float(rate(0)) == pytest.approx(expected, rel=1e-6, abs=1e-9)
    with pytest.raises(GanLabError, match="Unknown learning-rate decay 'linear'"):
        toolkit.learning_rate(1e-3, "linear", 100)


def test_a_held_cosine_keeps_the_full_rate_then_decays_to_zero_at_the_end():
    rate = toolkit.learning_rate(1e-3, "cosine", 30, hold=20)
    for step, expected in ((0, 1e-3), (19, 1e-3), (20, 1e-3), (25, 5e-4), (30, 0.0), (40, 0.0)):
        assert float(rate(step)) == pytest.approx(expected, rel=1e-5, abs=1e-9)
    cfg = toolkit.GAN_OPTIONS | {"lr_decay": "cosine", "lr_hold": 8}
    assert toolkit.schedule_steps(cfg, 10, 50) == (500, 400)
    assert toolkit.schedule_steps(toolkit.GAN_OPTIONS, 10, 50) == (500, 0)
    assert toolkit.schedule_steps(toolkit.GAN_OPTIONS, None, 50) == (None, 0)


@pytest.mark.parametrize("decay, epochs, hold", [("constant", 10, 8), ("cosine", None, 8), ("cosine", 10, 10)])
def test_a_hold_without_a_cosine_over_more_epochs_is_refused(decay, epochs, hold):
    cfg = toolkit.GAN_OPTIONS | {"lr_decay": decay, "lr_hold": hold}
    with pytest.raises(GanLabError, match=f"lr_hold holds the rate for {hold} epochs"):
        toolkit.schedule_steps(cfg, epochs, 50)


def test_a_run_with_a_bad_hold_writes_nothing(tmp_path):
    from gan_lab.training import mnist as train_mnist

    with pytest.raises(GanLabError, match="needs --lr-decay cosine"):
        train_mnist.train(tmp_path / "run", epochs=3, lr_hold=3, lr_decay="cosine", max_images=64, arch="mlp")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("xla", [False, True])
def test_the_budget_sets_the_rate_before_each_step_from_the_share_spent(digits_subset, xla):
    """A run resumed with half its budget spent trains at half the rate (the cosine's middle). The budget is long
    (1,000 s) so that the seconds the steps themselves take (an XLA compile on a loaded machine) barely move it."""
    g, d = mnist_models.build("mlp", latent_dim=8, g_widths=(8,), d_widths=(8,))
    cfg = toolkit.GAN_OPTIONS | {"lr_g": 1e-3, "lr_d": 4e-3}
    gan = toolkit.compile_gan(g, d, cfg, steps=None, seed=0, xla=xla)
    schedules = runs.budget_schedules(gan)
    assert len(schedules) == 2  # the generator's and the discriminator's
    budget = callbacks.Budget(seconds=1000.0, spent=500.0, schedules=schedules)
    gan.fit(tf.constant(digits_subset[:32]), batch_size=16, epochs=1, verbose=0, callbacks=[budget])
    assert 0.5 <= float(schedules[0].progress.numpy()) < 0.6
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(1e-3 * 0.5 * (1 + np.cos(np.pi * float(
        schedules[0].progress.numpy()))), rel=1e-5)
    assert float(gan.d_optimizer.learning_rate) < 4e-3 * 0.55
    # The compiled step reads the rate each time: with the budget spent, the rate is zero and a step changes nothing.
    spent = [w.numpy() for w in gan.generator.trainable_weights + gan.discriminator.trainable_weights]
    gan.fit(tf.constant(digits_subset[:16]), batch_size=16, epochs=1, verbose=0,
            callbacks=[callbacks.Budget(seconds=100.0, spent=100.0, schedules=schedules)])
    for before, after in zip(spent, gan.generator.trainable_weights + gan.discriminator.trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())
    counted = toolkit.compile_gan(g, d, cfg, steps=100, seed=0, xla=False)
    assert runs.budget_schedules(counted) == []  # a run with a length decays over its steps
    with pytest.raises(ValueError, match="needs a budget"):
        callbacks.Budget(seconds=None, schedules=schedules)


@pytest.mark.parametrize("epochs, minutes, message", [
    (None, None, "epochs, a wall-clock budget in minutes, or both"),
    (None, 0, "minutes must be a positive budget, got 0"),
    (None, -5, "minutes must be a positive budget, got -5"),
    (0, None, "epochs must be a positive number"),
])
def test_a_run_needs_a_length_and_a_positive_budget(epochs, minutes, message):
    with pytest.raises(GanLabError, match=message):
        runs.check_budget(epochs, minutes)


@pytest.mark.slow
def test_a_budget_stops_at_a_step_with_a_checkpoint_and_a_spent_budget_writes_nothing(tmp_path):
    from gan_lab.training import checkpoints, mnist as train_mnist

    result, _ = train_mnist.train(tmp_path, minutes=0.05, max_images=256, arch="mlp", g_widths=(16,),
                                  d_widths=(16,), xla=False, augment="translation,cutout", d_norm="spectral",
                                  command="gan-lab train mnist --minutes 0.05")
    assert modelfolder.read_info(tmp_path)["commands"] == ["gan-lab train mnist --minutes 0.05"]
    assert result.info["stopped_by_budget"] and result.info["total_train_seconds"] >= 3.0
    ckpt = checkpoints.latest(tmp_path / "checkpoints")
    assert checkpoints.read_state(ckpt)["train_seconds"] >= 3.0 and (tmp_path / "generator.keras").exists()
    assert any((tmp_path / "samples").iterdir())
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    with pytest.raises(GanLabError, match="already trained .* its whole budget of 0.05 min; nothing was written"):
        train_mnist.train(tmp_path, minutes=0.05, max_images=256, arch="mlp", g_widths=(16,), d_widths=(16,),
                          xla=False, augment="translation,cutout", d_norm="spectral", resume=True,
                          command="gan-lab train mnist --minutes 0.05 --resume")  # refused: not on the card
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


@pytest.mark.slow
@pytest.mark.parametrize("model", ["faces", "mnist"])
def test_toolkit_costs_time_each_variant_against_the_first(model):
    from gan_lab.training import face_models, mnist

    if model == "faces":
        variants = {"plain": {}, "augment": {"augment": "color,translation,cutout"}}
        costs = face_models.toolkit_costs(variants, steps=3, image_size=32, base=8, batch_size=16, xla=False)
    else:
        variants = {"plain": {}, "mbstd": {"d_mbstd": True}, "top-k": {"d_mbstd": True, "top_k": 0.5}}
        costs = mnist.toolkit_costs(variants, steps=3, batch_size=16, xla=False)
    assert list(costs) == list(variants) and costs["plain"]["cost"] == 0.0
    assert all(c["images_per_s"] > 0 for c in costs.values()) and all(c["cost"] < 1.0 for c in costs.values())


def test_an_epoch_cut_short_by_the_budget_counts_only_the_images_it_trained():
    import time

    from gan_lab.training.callbacks import Progress

    progress = Progress(images_per_epoch=6_400)
    progress.set_params({"epochs": 1, "steps": 100})
    progress.on_train_begin()
    progress.on_epoch_begin(0)
    for step in range(10):  # the budget stopped the epoch after 10 of its 100 steps
        progress.on_train_batch_end(step)
    time.sleep(0.1)
    progress.on_epoch_end(0, {})
    progress.on_train_end()
    assert 0 < progress.rates[0] <= 640 / 0.1  # 640 images in at least 0.1 s, not the epoch's 6,400


def test_the_runs_rate_leaves_out_the_first_epoch_and_one_the_budget_cut_short():
    from gan_lab.training.callbacks import Progress

    progress = Progress(images_per_epoch=6_400)
    progress.rates, progress.whole = [50.0, 100.0, 104.0, 36.0], [True, True, True, False]  # tracing, 2 whole, cut
    assert progress.steady_rate() == 102.0
    progress.rates, progress.whole = [106.0, 36.0], [True, False]  # one whole epoch (with tracing), then cut
    assert progress.steady_rate() == 106.0
    progress.rates, progress.whole = [30.0, 36.0], [False, False]  # nothing whole: after the first, as before
    assert progress.steady_rate() == 36.0
    assert Progress(images_per_epoch=1).steady_rate() == 0.0


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupt_stops_at_a_step_with_a_checkpoint_and_the_generator(tmp_path, sig):
    import signal
    import subprocess
    import sys
    import time

    from gan_lab.training import checkpoints

    cmd = [sys.executable, "-m", "gan_lab", "train", "mnist", "--arch", "mlp", "--epochs", "100000", "--max-images",
           "256", "--g-widths", "16", "--d-widths", "16", "--no-xla", "--checkpoint-every", "100000",
           "--out", str(tmp_path)]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "history.csv").exists() and time.time() < deadline:  # training has begun
        time.sleep(0.5)
    run.send_signal(getattr(signal, sig))
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert "stopping at the next step with a checkpoint" in err and "Interrupted: stopped at a step boundary" in out
    ckpt = checkpoints.latest(tmp_path / "checkpoints")  # not due for 100,000 epochs: written by the interrupt
    assert ckpt is not None and (tmp_path / "generator.keras").exists()
    assert json.loads((tmp_path / "model.json").read_text())["interrupted"] is True


def test_top_k_keeps_the_most_real_looking_share_as_it_decays():
    gan = _tiny_gan(top_k=0.25, top_k_half_life=640)
    logits = tf.constant([[0.1], [3.0], [-2.0], [1.0], [0.5], [2.0], [-1.0], [0.0]])
    kept = lambda: [float(v) for v, w in zip(logits.numpy().ravel(), gan._kept(logits, 64).numpy()) if w]  # noqa: E731
    assert len(kept()) == 8  # step 0: every image
    gan.g_optimizer.iterations.assign(10)  # 640 images: one half-life
    assert float(gan.kept_share(64)) == pytest.approx(0.5)
    assert sorted(kept()) == [0.5, 1.0, 2.0, 3.0]
    gan.g_optimizer.iterations.assign(1_000)  # floor: top_k
    assert sorted(kept()) == [2.0, 3.0]
    # The generator's loss is the mean over the kept ones only.
    expected = np.mean(np.log1p(np.exp(-np.array([2.0, 3.0]))))
    assert float(gan._g_loss(logits, gan._kept(logits, 64))) == pytest.approx(expected, rel=1e-5)
    assert _tiny_gan()._kept(logits, 64) is None  # off by default


@pytest.mark.parametrize("xla", [False, True])
def test_top_k_trains_and_is_refused_outside_its_range(digits_subset, xla):
    g, d = mnist_models.build("mlp", latent_dim=8, g_widths=(8,), d_widths=(8,))
    cfg = toolkit.GAN_OPTIONS | {"top_k": 0.5, "top_k_half_life": 100, "lr_decay": "constant"}
    gan = toolkit.compile_gan(g, d, cfg, steps=None, seed=0, xla=xla)  # XLA: the shapes must stay static
    history = gan.fit(tf.constant(digits_subset[:64]), batch_size=16, epochs=2, verbose=0).history
    assert np.isfinite(history["g_loss"]).all()
    for bad in ({"top_k": 0.0}, {"top_k": 1.5}, {"top_k": 0.5, "top_k_half_life": -1}):
        with pytest.raises(GanLabError, match="top_k"):
            toolkit.check(toolkit.GAN_OPTIONS | bad)
