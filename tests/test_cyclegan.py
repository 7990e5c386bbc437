"""CycleGAN: its layers and networks, the image pool and schedule, a train step, the config that drives
a run, the CLI end to end, export to every backend, the judge against true pairs, and bad input."""

import contextlib
import io
import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from gan_lab import GanLabError, cli, flops, modelfolder, translator
from gan_lab.data import domains
from gan_lab.models import cyclegan as nets
from gan_lab.runtime import load_translator
from gan_lab.training import translation
from gan_lab.training.cyclegan import CycleGAN, HoldThenDecay, ImagePool

TINY = {"people": 8, "width": 4, "blocks": 1, "d_width": 4, "hold_epochs": 1, "decay_epochs": 1, "batch_size": 2,
        "pool_size": 4}


def tiny_trainer(identity_weight=0.5):
    cfg = translation.Config(**TINY, identity_weight=identity_weight)
    return translation.build(cfg, steps_per_epoch=4)


def test_reflection_padding_mirrors_the_border_and_loads_safely(tmp_path):
    x = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    padded = np.asarray(nets.ReflectionPad2D(1)(x))[0, :, :, 0]
    np.testing.assert_array_equal(padded[0], [4, 3, 4, 5, 4])  # row 1 mirrored above row 0
    np.testing.assert_array_equal(padded[:, 0], [4, 1, 4, 7, 4])
    model = keras.Sequential([keras.Input((3, 3, 1)), nets.ReflectionPad2D(1)])
    model.save(tmp_path / "pad.keras")
    again = keras.models.load_model(tmp_path / "pad.keras", safe_mode=True)
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(model(x)))


def test_generator_keeps_the_size_and_the_discriminator_judges_patches():
    g = nets.generator(64, width=8, n_blocks=2)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    y = np.asarray(g(x))
    assert y.shape == x.shape and np.abs(y).max() <= 1.0
    assert not any(isinstance(layer, layers.Conv2DTranspose) for layer in g.layers)  # nearest + conv: no checkerboard
    assert any(isinstance(layer, layers.Conv2DTranspose) for layer in nets.generator(64, 8, 1, "transpose").layers)
    assert nets.discriminator(64, 8).output.shape[1:] == (16, 16, 1)
    assert nets.discriminator(64, 8, n_layers=3).output.shape[1:] == (8, 8, 1)
    assert flops.flops_per_image(nets.generator()) == pytest.approx(0.359e9, rel=0.01)  # as the docstring says
    with pytest.raises(GanLabError, match="image_size must be one of 64, 128"):
        nets.generator(48)


def test_instance_norm_normalises_each_channel_of_each_image_as_group_norm_does():
    x = np.random.default_rng(0).normal(3.0, 5.0, (2, 8, 8, 4)).astype("float32")
    norm, keras_norm = nets.instance_norm(), layers.GroupNormalization(groups=-1, epsilon=1e-5)
    y = np.asarray(norm(x))
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1.0, atol=1e-3)
    keras_norm.build(x.shape)
    weights = [np.random.default_rng(1).normal(size=w.shape).astype("float32") for w in keras_norm.get_weights()]
    norm.set_weights(weights)
    keras_norm.set_weights(weights)
    np.testing.assert_allclose(np.asarray(norm(x)), np.asarray(keras_norm(x)), atol=1e-5)
    assert isinstance(norm, layers.GroupNormalization) and norm.groups == x.shape[-1]  # one group per channel


def test_image_pool_fills_then_swaps_without_losing_an_image():
    pool = ImagePool(4, (1, 1, 1), keras.random.SeedGenerator(0))
    batch = lambda *v: tf.constant(np.array(v, "float32").reshape(-1, 1, 1, 1))  # noqa: E731
    np.testing.assert_array_equal(np.asarray(pool(batch(1, 2))).ravel(), [1, 2])  # filling: as given
    np.testing.assert_array_equal(np.asarray(pool(batch(3, 4))).ravel(), [3, 4])
    seen_old = False
    for step in range(20):
        new = [10.0 + 2 * step, 11.0 + 2 * step]
        before = set(np.asarray(pool.images).ravel())
        out = np.asarray(pool(batch(*new))).ravel()
        after = set(np.asarray(pool.images).ravel())
        assert all(v in new or v in before for v in out)
        assert set(out) | after == before | set(new)  # every image is either handed out or kept
        seen_old |= any(v in before for v in out)
    assert seen_old
    assert ImagePool(0, (1, 1, 1), keras.random.SeedGenerator(0))(batch(5.0)).numpy().item() == 5.0


def test_learning_rate_is_held_then_decays_linearly_to_zero():
    schedule = HoldThenDecay(2e-4, hold=100, decay=50)
    rates = [float(schedule(step)) for step in (0, 100, 125, 150, 400)]
    assert rates == pytest.approx([2e-4, 2e-4, 1e-4, 0.0, 0.0])
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule)).get_config() == \
        schedule.get_config()


@pytest.mark.parametrize("identity_weight", [0.5, 0.0])
def test_a_train_step_moves_all_four_networks(identity_weight):
    trainer = tiny_trainer(identity_weight)
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype("float32"))
    nets4 = trainer.checkpoint_models()
    before = {k: [w.copy() for w in m.get_weights()] for k, m in nets4.items()}
    logs = trainer.train_step((x, -x))
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert (float(logs["identity"]) == 0.0) == (identity_weight == 0.0)
    for name, model in nets4.items():
        assert any(not np.array_equal(a, b) for a, b in zip(before[name], model.get_weights())), name
    panel = np.asarray(trainer.draw(np.concatenate([x, -x])))
    assert panel.shape == (12, 64, 64, 3)  # per row: a, a->b, a->b->a, b, b->a, b->a->b
    np.testing.assert_allclose(panel[0], x[0]) and np.testing.assert_allclose(panel[3], -x[0])


def test_config_is_the_dashboard(tmp_path):
    cfg = translation.Config(width=8, hold_epochs=2)
    loaded = translation.Config.load(cfg.save(tmp_path / "cfg.json"), blocks=3, lr=None)
    assert (loaded.width, loaded.hold_epochs, loaded.blocks, loaded.lr) == (8, 2, 3, 2e-4)  # flags override
    (tmp_path / "run.json").write_text(json.dumps({"model": "faces-cyclegan", "arch": "cyclegan", "width": 4}))
    assert translation.Config.load(tmp_path / "run.json").width == 4  # a run's config.json works too
    (tmp_path / "bad.json").write_text(json.dumps({"widht": 4}))
    with pytest.raises(GanLabError, match="Unknown CycleGAN option.*widht"):
        translation.Config.load(tmp_path / "bad.json")
    for bad, message in [({"a": "x"}, "both domain folders"), ({"hold_epochs": 0, "decay_epochs": 0}, "add up"),
                         ({"pool_size": 2, "batch_size": 4}, "pool_size"), ({"seed": translation.HELDOUT_SEED}, "held-out"),
                         ({"domains": "procedural:tattoo"}, "Unknown domain attribute"), ({"domains": "celeba"}, "procedural:")]:
        with pytest.raises(GanLabError, match=message):
            translation.Config(**bad).check()


def gan_lab(*args, cache=None):
    """The real CLI entry point, in this process (no second TensorFlow start-up): (code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    saved = os.environ.get("GAN_LAB_CACHE")
    if cache:
        os.environ["GAN_LAB_CACHE"] = str(cache)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(args))
    finally:
        if cache:
            os.environ.pop("GAN_LAB_CACHE") if saved is None else os.environ.update(GAN_LAB_CACHE=saved)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`gan-lab train cyclegan` on 8 procedural people, then the export of both directions."""
    root = tmp_path_factory.mktemp("cyclegan")
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    done = gan_lab("train", "cyclegan", "--out", str(root / "run"), *flags, cache=root / "cache")
    assert done[0] == 0, done[2][-2000:]
    translator.export(root / "run", verbose=False)
    return root / "run", done


def test_cli_trains_exports_and_resumes(trained, tmp_path):
    run, done = trained
    assert "a2b.keras and b2a.keras" in done[1]
    info = modelfolder.read_info(run)
    assert info["domains"]["procedural"] == "blond_hair" and info["epochs"] == 2
    assert set(info["conversions"]) == {"a2b", "b2a"} and info["conversions"]["a2b"]["parity"]["inputs"] == "image"
    assert json.loads((run / "config.json").read_text())["width"] == 4
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == ["epoch-0001.png", "epoch-0002.png"]
    assert list((run / "logs" / "images").iterdir())  # the panels reach TensorBoard
    copy = shutil.copytree(run, tmp_path / "run")  # the other tests use the exported run as it is
    code, out, err = gan_lab("train", "cyclegan", "--out", str(copy), "--resume", "--decay-epochs=2",
                             cache=run.parent / "cache")
    assert code == 0, err[-2000:]
    assert "Resuming from" in out and modelfolder.read_info(copy)["epochs"] == 3
    code, _, err = gan_lab("train", "cyclegan", "--out", str(tmp_path), "--augment", "color")
    assert code == 1 and "--augment: not options of the CycleGAN" in err


@pytest.mark.parametrize("backend", ["keras", "onnxruntime", "openvino"])
def test_translation_on_every_backend(trained, backend):
    run, _ = trained
    pictures = domains.pairs(4, size=64, seed=5)["a"]
    suffix = {"keras": ".keras", "onnxruntime": ".onnx", "openvino": ".xml"}[backend]
    out = load_translator(run / f"a2b{suffix}").translate(pictures)
    reference = load_translator(run / "a2b.keras").translate(pictures)
    assert out.dtype == np.uint8 and out.shape == pictures.shape
    assert np.abs(out.astype(int) - reference.astype(int)).max() <= 2
    with pytest.raises(GanLabError):
        load_translator(run / f"a2b{suffix}").translate(pictures[:, :32, :32])


def test_translate_command_writes_one_png_per_readable_file(trained, tmp_path):
    run, _ = trained
    from PIL import Image

    Image.fromarray(np.full((90, 70, 3), 40, np.uint8)).save(tmp_path / "photo.jpg")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    code, out, err = gan_lab("translate", str(run), str(tmp_path / "photo.jpg"), str(tmp_path / "broken.png"),
                             "--to", "b", "--out", str(tmp_path / "out"))
    assert code == 0, err[-2000:]
    assert "1 of 2 images translated" in out and "skipped" in out
    assert Image.open(tmp_path / "out" / "photo-to-b.png").size == (64, 64)
    code, _, err = gan_lab("translate", str(run), str(tmp_path / "nope.png"), "--out", str(tmp_path / "out"))
    assert code == 1 and "No such image file" in err


def test_judge_sees_a_translator_that_changes_nothing_for_what_it_is(tmp_path):
    """An identity 'translator': PSNR equals the no-change baseline, its outputs stay in their own
    domain, and the round trip is exact."""
    image = keras.Input((64, 64, 3), name="image")
    identity = keras.Model(image, layers.Identity()(image))
    for stem in translator.STEMS:
        modelfolder.save_keras(identity, tmp_path / f"{stem}.keras")
    modelfolder.write_info(tmp_path, domains={"procedural": "blond_hair"}, image_shape=[64, 64, 3])
    figures = translator.judge(tmp_path, n=40)
    assert figures["a2b_psnr"] == pytest.approx(figures["a2b_psnr_no_change"], abs=0.05)
    assert figures["cycle_aba_mae_255"] < 0.5 and figures["cycle_bab_mae_255"] < 0.5
    assert figures["a2b_read_as_b"] < 0.2 and figures["real_b_read_as_b"] > 0.8
    modelfolder.write_info(tmp_path, domains={"a": "x", "b": "y"})
    with pytest.raises(GanLabError, match="no true pairs"):
        translator.judge(tmp_path)


def test_identity_check_counts_the_true_person_nearest():
    truth = np.eye(12, dtype="float32") * 10
    assert translator.closer_than_others(truth + 0.1, truth).all()
    assert not translator.closer_than_others(np.roll(truth, 1, axis=0), truth).any()


def test_ship_score_is_the_worst_shortfall_and_speed_covers_every_backend(trained):
    met = {"a2b_read_as_b": 0.95, "b2a_read_as_a": 0.92, "a2b_identity_kept": 0.99, "b2a_identity_kept": 0.93,
           "cycle_aba_mae_255": 4.0}
    assert translator.ship_score(met) <= 1.0
    assert translator.ship_score(met | {"cycle_aba_mae_255": 16.0}) == pytest.approx(2.0)
    assert translator.ship_score(met | {"b2a_identity_kept": 0.45}) == pytest.approx(2.0)
    run, _ = trained
    rows = translator.speed(run, batches=(1, 2), seconds=0.05, repeats=1)
    assert {r["backend"] for r in rows} == {"OpenVINO", "ONNX Runtime", "Keras"} and len(rows) == 6
    assert all(r["images_per_s"] > 0 and r["latency_ms_p50"] > 0 for r in rows)


def test_the_picker_shows_input_translation_round_trip_and_truth(trained):
    from gan_lab.widgets import TranslatorPicker

    run, _ = trained
    picker = TranslatorPicker(run, backend="onnxruntime", people=5)
    first = picker.render()
    assert first.shape == (4, 64, 64, 3) and np.array_equal(first[0], picker.truth["a"][0])
    picker.direction.value = "B → A"
    picker.person.value = 3  # each change redraws
    assert np.array_equal(picker.images[0], picker.truth["b"][3]) and np.array_equal(picker.images[3], picker.truth["a"][3])
    assert "ONNX Runtime" in picker.status.value and picker.device.disabled  # devices are OpenVINO's
    on_openvino = TranslatorPicker(run, people=5, device="AUTO")
    assert not on_openvino.device.disabled and on_openvino.nets["a2b"].runner.device == "AUTO"


def test_a_run_on_two_folders_reads_them_and_says_so(tmp_path):
    from PIL import Image

    for side, colour in (("a", (200, 30, 30)), ("b", (30, 30, 200))):
        (tmp_path / side).mkdir()
        for i in range(3):
            Image.fromarray(np.full((50 + 10 * i, 60, 3), colour, np.uint8)).save(tmp_path / side / f"{i}.png")
    cfg = translation.Config(a=str(tmp_path / "a"), b=str(tmp_path / "b"))
    cfg.check()
    a, b, source = translation.domain_images(cfg)
    assert a.shape == b.shape == (3, 64, 64, 3) and a[..., 0].mean() > a[..., 2].mean() and b[..., 2].mean() > b[..., 0].mean()
    assert source == {"a": str(tmp_path / "a"), "b": str(tmp_path / "b")} and cfg.attribute() is None
