"""The latent explorer worked programmatically (the browser test drives it in JupyterLab), and the
face recipe it saves."""

import json

import numpy as np
import pytest

from gan_lab import GanLabError, latent, paths, recipe
from gan_lab.runtime import load_generator
from gan_lab.images import png_bytes
from gan_lab.widgets import LatentExplorer

FOLDER = paths.shipped("faces-dcgan")
NAMES = ["Smiling", "Male", "Young"]


@pytest.fixture(scope="module")
def directions():
    rng = np.random.default_rng(0)
    return latent.Directions(NAMES, latent.unit(rng.standard_normal((3, 128))))


@pytest.fixture
def explorer(directions):
    return LatentExplorer(load_generator(FOLDER / "generator.xml"), directions, seed=3)


def test_a_slider_move_changes_the_face_and_reset_brings_it_back(explorer):
    first = explorer.image.copy()
    assert first.shape == (64, 64, 3) and first.dtype == np.uint8
    assert explorer.image_widget.value == png_bytes(first, explorer.zoom)
    explorer.sliders["Smiling"].value = 4.0
    assert np.abs(explorer.image.astype(int) - first).mean() > 2  # a visible change, not noise
    explorer.reset()
    assert explorer.sliders["Smiling"].value == 0.0
    np.testing.assert_array_equal(explorer.image, first)
    assert len(explorer.timings) == 3 and "OpenVINO" in explorer.status.value


def test_seed_and_truncation_make_a_new_face_reproducibly(explorer):
    first = explorer.image.copy()
    explorer.seed.value = 4
    other = explorer.image.copy()
    assert np.abs(other.astype(int) - first).mean() > 5
    explorer.seed.value = 3
    np.testing.assert_array_equal(explorer.image, first)
    explorer.truncation.value = 0.0  # the mean face, whatever the seed
    mean_face = explorer.image.copy()
    explorer.seed.value = 4
    np.testing.assert_array_equal(explorer.image, mean_face)


def test_a_lock_freezes_its_slider_and_free_moves_avoid_its_direction(explorer, directions):
    explorer.sliders["Male"].value = 2.0
    explorer.locks["Male"].value = True
    assert explorer.sliders["Male"].disabled
    anchor = explorer.latent()
    explorer.sliders["Smiling"].value = 5.0
    moved = explorer.latent() - anchor
    assert abs(float(moved[0] @ directions["Male"])) < 1e-4  # no component along the locked direction
    assert np.linalg.norm(moved) == pytest.approx(5.0, rel=1e-4)
    assert "locked: Male" in explorer.status.value


def test_save_then_load_renders_the_same_face(explorer, tmp_path):
    explorer.set(seed=11, truncation=0.7, sliders={"Smiling": 2.5, "Young": -1.5}, locks=["Male"])
    saved = explorer.image.copy()
    path = explorer.save(tmp_path / "me.json")
    data = json.loads(path.read_text())
    assert data["seed"] == 11 and data["truncation"] == 0.7 and data["locks"] == ["Male"]
    assert data["sliders"] == {"Smiling": 2.5, "Male": 0.0, "Young": -1.5} and data["latent_dim"] == 128
    assert (tmp_path / "me.png").exists()
    explorer.reset()
    explorer.seed.value = 0
    explorer.load(path)
    np.testing.assert_array_equal(explorer.image, saved)
    assert explorer.locks["Male"].value and explorer.sliders["Young"].value == -1.5


def test_the_backends_draw_the_same_face(explorer):
    images = {}
    explorer.sliders["Young"].value = 3.0
    for backend in ("OpenVINO", "ONNX Runtime", "Keras"):
        explorer.backend.value = backend
        images[backend] = explorer.image.astype(int)
        assert backend in explorer.status.value
    assert np.abs(images["Keras"] - images["ONNX Runtime"]).max() <= 1
    assert np.abs(images["Keras"] - images["OpenVINO"]).mean() < 0.5  # FP16 IR: a level here and there


def test_bad_files_are_refused_with_the_reason(explorer, tmp_path):
    wrong = recipe.Recipe(model="models/mnist", latent_dim=100, seed=1).save(tmp_path / "digit.json")
    with pytest.raises(GanLabError, match="100-d model"):
        explorer.load(wrong)
    alien = recipe.Recipe(model=str(FOLDER), latent_dim=128, sliders={"Bald": 1.0}).save(tmp_path / "bald.json")
    with pytest.raises(GanLabError, match=r"moves or locks \['Bald'\]"):
        explorer.load(alien)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(GanLabError, match="not valid JSON"):
        explorer.load(tmp_path / "broken.json")
    explorer._report(explorer.load, tmp_path / "missing.json")  # the Load button shows errors, never raises
    assert "does not exist" in explorer.status.value


def test_directions_of_another_size_are_refused():
    small = latent.Directions(["Smiling"], latent.unit(np.ones((1, 100))))
    with pytest.raises(GanLabError, match="directions are 100-d"):
        LatentExplorer(load_generator(FOLDER / "generator.xml"), small)


def test_recipe_latent_is_deterministic_and_locked_sliders_keep_their_own_direction(directions):
    face = recipe.Recipe(model=str(FOLDER), latent_dim=128, seed=5, truncation=0.5,
                         sliders={"Smiling": 1.0, "Male": -2.0}, locks=["Male"])
    z = face.latent(directions)
    np.testing.assert_array_equal(z, face.latent(directions))
    start = latent.truncate(latent.sample(1, 128, 5), 0.5)
    free = latent.orthogonalize(directions["Smiling"], [directions["Male"]])
    np.testing.assert_allclose(z, start - 2.0 * directions["Male"] + free, atol=1e-5)


@pytest.mark.slow
def test_held_locks_keep_the_locked_attribute_as_the_classifier_reads_it(tmp_path):
    explorer = LatentExplorer.from_folder(FOLDER, seed=21)  # holds locks through the shipped classifier
    assert explorer.hold is not None
    moved = next(n for n in explorer.sliders if n != "Male")  # the first other shipped direction
    explorer.locks["Male"].value = True
    before = explorer.hold.read(explorer.latent(), ["Male", moved])[0]
    explorer.sliders[moved].value = explorer.directions.info["steps"][moved]
    after = explorer.hold.read(explorer.latent(), ["Male", moved])[0]
    assert abs(after[0] - before[0]) < 0.1 and abs(after[1] - before[1]) > 1.0  # Male held, the other moved
    saved = explorer.image.copy()
    explorer.load(explorer.save(tmp_path / "held.json"))
    np.testing.assert_array_equal(explorer.image, saved)


def test_one_device_widget_lists_openvino_devices_and_auto_and_the_explorer_switches_device(explorer):
    from gan_lab.widgets import device_widget

    chooser = device_widget()
    assert "CPU" in chooser.options and chooser.options[-1] == "AUTO" and chooser.value == "CPU"
    assert device_widget("NPU:7").value == chooser.options[0]  # a device this machine lacks: the first one
    before = explorer.image.copy()
    explorer.device.value = "AUTO"  # OpenVINO chooses (the CPU here): the same face, compiled anew
    assert "OpenVINO on AUTO" in explorer.status.value
    assert np.abs(explorer.image.astype(int) - before).max() <= 1
    explorer.backend.value = "ONNX Runtime"  # not an OpenVINO backend: the device does not apply
    assert explorer.device.disabled and "on AUTO" not in explorer.status.value


def test_a_timed_slider_sweep_reports_median_and_p95_per_render(explorer):
    timed = explorer.time_slider("Smiling", np.linspace(-2, 2, 6), backend="ONNX Runtime")
    assert timed["renders"] == 6 and 0 < timed["median ms"] <= timed["p95 ms"] and explorer.backend.value == "ONNX Runtime"
