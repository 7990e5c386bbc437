"""The style-based generator: its layers' maths, noise and truncation, the trainer's mixing and mean w,
a whole run through the CLI, the three-network export and the W-space runtime with its refusals."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from gan_lab import GanLabError, convert, flops, latent, style_space
from gan_lab.models import stylegan
from gan_lab.models.io import load_keras
from gan_lab.runtime import load, load_generator
from gan_lab.runtime.style import WGenerator, editable, load_style
from gan_lab.training import face_models
from gan_lab.training.stylegan import StyleGAN

SMALL = {"latent_dim": 16, "w_dim": 16, "image_size": 32, "base": 4, "cap": 16}


def small_generator(psi=1.0, seed=0):
    keras.utils.set_random_seed(seed)
    return stylegan.generator(SMALL["latent_dim"], SMALL["w_dim"], SMALL["image_size"], SMALL["base"], SMALL["cap"],
                              psi=psi)


def with_noise(model, strength=0.5):
    """Give every noise input a visible strength (a fresh model has zero), and bring the output into
    an image's range (a fresh model's reaches +-18, where FP16 weights alone err by 0.02)."""
    for layer in model.get_layer("synthesis").layers:
        if getattr(layer, "noise", False):
            layer.noise_strength.assign(strength)
        if layer.name.startswith("rgb") and hasattr(layer, "kernel"):
            layer.kernel.assign(layer.kernel * 0.05)
    return model


def test_widths_double_per_halving_up_to_the_cap_and_style_inputs_per_layer():
    assert stylegan.widths(64, 16, 128) == {4: 128, 8: 128, 16: 64, 32: 32, 64: 16}
    assert stylegan.num_ws(64) == 10 and stylegan.num_ws(32) == 8
    groups = stylegan.style_groups(10)
    assert groups == {"coarse": [0, 1, 2], "middle": [3, 4, 5, 6], "fine": [7, 8, 9]}
    with pytest.raises(GanLabError, match="image_size 48"):
        stylegan.widths(48)


def test_modulated_convolution_equals_the_fused_per_sample_weights():
    """Non-fused (scale input, shared conv, scale output) == StyleGAN2's per-sample modulated and
    demodulated weights applied to each sample on its own."""
    rng = np.random.default_rng(0)
    layer = stylegan.ModulatedConv2D(5, 3, noise=False, activation=None)
    x, w = rng.standard_normal((3, 8, 8, 4)).astype("float32"), rng.standard_normal((3, 6)).astype("float32")
    got = np.asarray(layer([x, w]))
    style = np.asarray(layer.affine(w))
    base = np.asarray(layer.kernel) / np.sqrt(3 * 3 * 4)
    for i in range(3):
        weight = base * style[i][None, None, :, None]
        weight = weight / np.sqrt((weight ** 2).sum(axis=(0, 1, 2), keepdims=True) + 1e-8)
        expected = np.asarray(ops.conv(x[i:i + 1], weight.astype("float32"), padding="same"))[0]
        np.testing.assert_allclose(got[i], expected, atol=1e-4)


def test_flops_are_counted_for_the_custom_layers():
    layer = stylegan.ModulatedConv2D(8, 3)
    x, w = keras.Input((16, 16, 4)), keras.Input((6,))
    net = keras.Model([x, w], layer([x, w]))
    assert flops.flops_per_image(net) == 2 * 16 * 16 * 3 * 3 * 4 * 8 + 2 * 6 * 4
    g, d = stylegan.build(128, 64)
    assert 200e6 < flops.flops_per_image(g) < 230e6 and 100e6 < flops.flops_per_image(d) < 130e6


def test_fixed_noise_is_deterministic_and_saved_random_noise_varies(tmp_path):
    model = with_noise(small_generator())
    z = latent.sample(2, 16, seed=1)
    fixed = np.asarray(model(z, training=False))
    np.testing.assert_array_equal(fixed, np.asarray(model(z, training=False)))
    assert np.abs(np.asarray(model(z, training=True)) - fixed).max() > 1e-3
    model.save(tmp_path / "g.keras")
    np.testing.assert_allclose(np.asarray(load_keras(tmp_path / "g.keras")(z)), fixed, atol=1e-6)
    draws, spread = style_space.noise_variation(model, z, draws=4)
    assert draws.shape == (2, 4, 32, 32, 3) and spread.shape == (2, 32, 32) and spread.mean() > 0


def test_truncation_to_zero_gives_the_mean_face_for_every_latent():
    trained = small_generator()
    trained.get_layer("truncation").w_avg.assign(np.linspace(-1, 1, 16).astype("float32"))
    mean_face = stylegan.generator(parts=(trained.get_layer("mapping"), trained.get_layer("synthesis")), psi=0.0)
    mean_face.get_layer("truncation").w_avg.assign(trained.get_layer("truncation").w_avg)
    out = np.asarray(mean_face(latent.sample(3, 16, seed=0)))
    np.testing.assert_allclose(out[0], out[2], atol=1e-5)
    for psi in (-0.1, 1.5):
        with pytest.raises(GanLabError, match=r"psi must be in \[0, 1\]"):
            stylegan.Truncation(psi)


def test_minibatch_std_appends_the_spread_of_the_batch():
    x = np.zeros((4, 2, 2, 3), "float32")
    assert np.allclose(np.asarray(stylegan.MinibatchStd()(x))[..., -1], 1e-4, atol=1e-4)
    x[0] = 2.0  # one sample differs: a spread of sqrt(var) = 0.866 at every position
    np.testing.assert_allclose(np.asarray(stylegan.MinibatchStd()(x))[..., -1], np.sqrt(0.75), atol=1e-3)


def compiled(mixing=0.9):
    g = small_generator()
    d = stylegan.discriminator(32, 4, 16)
    gan = StyleGAN(g, d, mixing=mixing, seed=0, ema_half_life=100)
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-3, 0.0, 0.99), g_optimizer=keras.optimizers.Adam(2e-3, 0.0, 0.99),
                label_smoothing=0.0, r1_gamma=0.01, r1_every=2)
    return gan


def test_style_mixing_takes_the_second_ws_from_a_cut_on():
    gan = compiled(mixing=1.0)
    w1, w2 = np.zeros((64, 16), "float32"), np.ones((64, 16), "float32")
    ws = np.asarray(gan._mix(w1, w2, 64))[:, :, 0]  # (n, num_ws): 0 from w1, 1 from w2
    cuts = (ws == 0).sum(axis=1)
    assert (np.diff(ws, axis=1) >= 0).all() and cuts.min() >= 1 and cuts.max() <= 7  # one cut, inside
    assert len(set(cuts)) > 3
    none = np.asarray(compiled(mixing=0.0)._mix(w1, w2, 64))
    assert (none == 0).all()
    with pytest.raises(GanLabError, match="mixing"):
        compiled(mixing=1.5)


def test_a_train_step_tracks_the_mean_w_and_hands_it_to_the_averaged_generator():
    gan = compiled()
    faces = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    before = [np.asarray(w).copy() for w in gan.generator.trainable_weights]
    gan.fit(faces, batch_size=8, epochs=1, verbose=0)
    avg = np.asarray(gan.truncation.w_avg)
    assert np.abs(avg).max() > 0
    np.testing.assert_array_equal(np.asarray(gan.ema_generator.get_layer("truncation").w_avg), avg)
    moved = [np.abs(np.asarray(w) - b).max() > 0 for w, b in zip(gan.generator.trainable_weights, before)]
    assert all(moved)  # mapping, every style affine, noise strengths and the constant all learn


def gan_lab(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "gan_lab", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small style-based generator with visible noise and a mean w, exported as its three networks."""
    model = with_noise(small_generator(seed=3), 0.3)
    model.get_layer("truncation").w_avg.assign(np.full(16, 0.2, "float32"))
    out = tmp_path_factory.mktemp("stylegan")
    reports = style_space.export(model, out, verbose=False)
    return out, model, reports


def test_export_writes_three_networks_and_the_chain_equals_the_generator(exported):
    out, model, reports = exported
    for stem in style_space.STEMS:
        assert all((out / f"{stem}{s}").exists() for s in (".keras", ".onnx", ".xml", ".bin"))
        assert reports[stem]["parity"]["onnx"]["max_abs"] < 1e-4
    info = json.loads((out / "model.json").read_text())
    assert info["style_based"] and info["num_ws"] == 8 and info["w_dim"] == 16 and len(info["w_avg"]) == 16
    assert info["chain_parity"]["max_abs"] < 1e-2 and info["conversions"]["synthesis"]["parity"]["inputs"] == "styles"
    gen = load_generator(out / "generator.xml")  # a single-latent generator, as for every tool
    assert gen.generate(gen.sample_latents(2)).shape == (2, 32, 32, 3)


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime", "keras"])
def test_w_space_runtime_on_every_backend(exported, backend):
    out, model, _ = exported
    style = load_style(out, backend)
    z = latent.sample(4, 16, seed=2)
    w = style.map(z)
    reference = np.asarray(model(z, training=False))
    tol = 1e-2 if backend == "openvino" else 1e-4
    np.testing.assert_allclose(style.synthesis.synthesize_raw(w), reference, atol=tol)
    np.testing.assert_allclose(style.map(z, psi=0.0), np.tile(style.w_avg, (4, 1)), atol=1e-6)
    mixed = style.mix(w[:2], w[2:], "coarse")  # 32 px: coarse 0-2, middle 3-7, no fine layers
    assert (mixed[:, :3] == w[2:, None]).all() and (mixed[:, 3:] == w[:2, None]).all()
    assert style.synthesize(mixed).dtype == np.uint8


def test_w_space_refuses_bad_input(exported, tmp_path):
    out, _, _ = exported
    style = load_style(out, "onnxruntime")
    w = style.map(latent.sample(2, 16))
    with pytest.raises(GanLabError, match=r"w of shape \(n, 16\) or per-layer ws of shape \(n, 8, 16\)"):
        style.synthesize(np.zeros((2, 12), "float32"))
    with pytest.raises(GanLabError, match=r"psi must be in \[0, 1\]"):
        style.map(latent.sample(2, 16), psi=1.2)
    with pytest.raises(GanLabError, match=r"indices in 0..7"):
        style.mix(w, w, [2, 8])
    with pytest.raises(GanLabError, match="Unknown layer group 'hair'"):
        style.mix(w, w, "hair")
    with pytest.raises(GanLabError, match="no style-based model"):
        (tmp_path / "model.json").write_text("{}")
        load_style(tmp_path)


@pytest.mark.slow
@pytest.mark.subprocess
def test_cli_trains_a_style_based_generator(tmp_path):
    out = tmp_path / "sg"
    done = gan_lab("train", "stylegan", "--epochs", "1", "--out", str(out), "--base", "4", "--cap", "16",
                   "--w-dim", "16", "--max-images", "64", "--batch-size", "16")
    assert done.returncode == 0, done.stderr
    info = json.loads((out / "model.json").read_text())
    assert info["architecture"] == "stylegan" and info["style_based"] and info["num_ws"] == 10
    assert info["toolkit"]["mixing"] == 0.0 and info["train_mflops_per_image"] > 0
    refused = gan_lab("train", "dcgan", "--epochs", "1", "--out", str(tmp_path / "x"), "--mixing", "0.5")
    assert refused.returncode == 1 and "options of the style-based model" in refused.stderr


def test_style_options_are_refused_for_other_models():
    with pytest.raises(GanLabError, match="Unknown stylegan option"):
        face_models.options("stylegan", {"d_norm": "spectral"})


def brightness_judge(pictures):
    """A judge any image has: 'Bright' and 'Red' probabilities and 4x4 thumbnails as features."""
    x = np.asarray(pictures, np.float32) / 255.0
    bright, red = x.mean(axis=(1, 2, 3)), x[..., 0].mean(axis=(1, 2)) - x[..., 1:].mean(axis=(1, 2, 3))
    probs = 1 / (1 + np.exp(-np.stack([(bright - np.median(bright)) * 40, red * 40], axis=1)))
    thumbs = x.reshape(len(x), 4, 8, 4, 8, 3).mean(axis=(2, 4)).reshape(len(x), -1)
    return {"attributes": probs, "features": thumbs, "yaw": bright * 10, "pitch": red * 10}


def test_w_space_in_units_of_its_spread_round_trips_and_draws_the_same_faces(exported):
    out, _, _ = exported
    style = load_style(out, "onnxruntime")
    space = WGenerator(style, samples=500)
    u = space.sample_latents(300, seed=4)
    assert space.scale > 0 and abs(np.sqrt(np.mean(u ** 2)) - 1) < 0.15  # unit spread, like N(0, I)
    w = style.map(style.sample_latents(3, seed=5))
    np.testing.assert_allclose(space.to_w(space.to_u(w)), w, atol=1e-5)
    np.testing.assert_array_equal(space.generate(space.to_u(w)), style.synthesize(w))


def test_direction_report_in_z_and_in_w_side_by_side(exported):
    out, _, _ = exported
    style = load_style(out, "onnxruntime")
    rows, found = style_space.compare_spaces(style, brightness_judge, ["Bright", "Red"], ["Bright", "Red"], samples=300,
                                      edits=40, locks=1)
    assert found["Z"].latent_dim == 16 and "Red" in found["W"].names
    assert [r["space"] for r in rows] == ["Z", "W"] and rows[0]["direction"] == rows[1]["direction"] == "Red"
    for row in rows:
        assert 0 <= row["success"] <= 1 and row["identity_shift"] > 0 and row["locks"] != [row["direction"]]


def test_the_explorer_edits_a_style_based_model_in_w_and_refuses_a_face_saved_in_z(exported, tmp_path):
    from gan_lab.recipe import Recipe
    from gan_lab.widgets import LatentExplorer

    out, _, _ = exported
    directions = latent.Directions(["Red", "Bright"], latent.unit(latent.sample(2, 16, seed=9)))
    directions.save(tmp_path / "directions")
    editor = editable(out, "onnxruntime")
    assert isinstance(editor, WGenerator) and editor.scale == json.loads((out / "model.json").read_text())["w_scale"]
    explorer = LatentExplorer(editor, tmp_path / "directions.json", seed=3)
    assert explorer.truncation.max == 1.0 and explorer.space == "w"
    start = explorer.image.copy()
    explorer.set(sliders={"Red": 2.0})
    assert np.abs(explorer.image.astype(int) - start).max() > 0
    saved = explorer.save(tmp_path / "face.json")
    face = Recipe.load(saved)
    assert face.space == "w"
    u = face.latent(directions, sample=editor.sample_latents)
    np.testing.assert_allclose(u, editor.sample_latents(1, 3) + 2.0 * directions["Red"], atol=1e-5)
    (tmp_path / "z.json").write_text(json.dumps(face.to_json() | {"space": "z"}))
    with pytest.raises(GanLabError, match=r"saved in Z .* edits in W"):
        explorer.load(tmp_path / "z.json")


def test_locks_hold_in_w_through_the_keras_synthesis_in_units_of_ws_spread(exported):
    from gan_lab.editing import Hold, keras_editable

    out, _, _ = exported
    editor = editable(out, "onnxruntime")
    network = keras_editable(out)  # u -> image, as the editor renders it
    u = editor.sample_latents(4, seed=2)
    np.testing.assert_allclose(ops.convert_to_numpy(network(u)), editor.style.synthesis.synthesize_raw(editor.to_w(u)),
                               atol=1e-4)
    keras.utils.set_random_seed(0)
    image = keras.Input(network.output_shape[1:])
    hidden = keras.layers.Dense(8, activation="tanh")(keras.layers.Flatten()(image))
    classifier = keras.Model(image, {"attributes": keras.layers.Dense(2, activation="sigmoid")(hidden),
                                     "pose": keras.layers.Dense(2)(hidden)})
    hold = Hold(network, classifier, ["A", "B"], substeps=10)
    start = editor.sample_latents(16, seed=3)
    end = start + 3.0 * latent.unit(latent.sample(1, editor.latent_dim, seed=4))[0]
    held = hold(start, end, ["A"])
    before, straight, walked = (hold.read(x, ["A", "B"]) for x in (start, end, held))
    assert np.abs(straight[:, 0] - before[:, 0]).mean() > 10 * np.abs(walked[:, 0] - before[:, 0]).max()
    assert np.abs(walked[:, 1] - before[:, 1]).mean() > 0.01  # B is free and still moves


def test_a_face_saved_in_w_is_refused_where_faces_are_edited_in_z():
    from gan_lab.recipe import Recipe

    face = Recipe(model="faces-stylegan", latent_dim=128, seed=1, space="w")
    face.check_space("w", "here")
    with pytest.raises(GanLabError, match=r"saved in W .* edits in Z .*saved from \(faces-stylegan\)"):
        face.check_space("z", "the model faces-dcgan")


@pytest.mark.subprocess
def test_a_shipped_style_based_model_loads_in_a_fresh_process():
    """Its custom layers register on import of the loader, not only when a test imported them first."""
    code = ("from gan_lab.models.io import load_keras; from gan_lab import paths; "
            "g = load_keras(paths.shipped('faces-stylegan') / 'generator.keras'); print(g.name)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "generator", done.stderr[-2000:]


def test_onnx_is_optimised_so_openvino_cancels_the_layout_transposes(tmp_path):
    """tf2onnx wraps each NHWC convolution in Transposes; on the raw file OpenVINO keeps most of them as
    layers of their own (43% of the shipped model's time), on the optimised file nearly none."""
    import onnx
    import openvino as ov
    import tensorflow as tf
    import tf2onnx

    model = small_generator()
    spec = [tf.TensorSpec((None, SMALL["latent_dim"]), tf.float32, name="z")]
    raw, _ = tf2onnx.convert.from_function(tf.function(lambda z: model(z), input_signature=spec), spec, opset=17)
    onnx.save(raw, str(tmp_path / "raw.onnx"))
    optimised = convert.to_onnx(model, tmp_path / "generator.onnx")

    def compiled_transposes(path):
        net = ov.convert_model(str(path))
        net.reshape({0: [4, SMALL["latent_dim"]]})
        ops = ov.Core().compile_model(net, "CPU").get_runtime_model().get_ordered_ops()
        return sum(op.get_rt_info()["layerType"].astype(str) == "Transpose" for op in ops)
    assert compiled_transposes(optimised) * 3 <= compiled_transposes(tmp_path / "raw.onnx")
    assert {op.domain for op in onnx.load(str(optimised)).opset_import} == {""}
    z = latent.sample(3, SMALL["latent_dim"], 0)
    assert np.abs(load(optimised).run(z)[0] - np.asarray(model(z))).max() < 1e-4
