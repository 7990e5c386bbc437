"""The identity grid: angle planning, the dataset folder it writes, and `gan-lab grid`."""

import csv

import numpy as np
import pytest
from PIL import Image

from gan_lab import GanLabError, identity_grid as grid, latent, paths, recipe
from gan_lab.cli import main
from gan_lab.runtime import load_generator

SHIPPED = paths.shipped("faces-dcgan")
LINEAR = {"steps": [-8.0, -4.0, 0.0, 4.0, 8.0], "change": [-24.0, -12.0, 0.0, 12.0, 24.0]}


def test_angles_run_symmetric_through_zero():
    a = grid.angles(60, 5)
    assert len(a) == 25 and a[0] == -60 and a[-1] == 60 and 0 in a
    assert list(grid.angles(0, 5)) == [0.0]
    with pytest.raises(GanLabError, match="step > 0"):
        grid.angles(60, 0)


def test_angle_to_step_inverts_the_calibration_and_flags_what_is_out_of_reach():
    assert grid.angle_to_step(12.0, LINEAR) == (pytest.approx(4.0), True)
    assert grid.angle_to_step(-6.0, LINEAR) == (pytest.approx(-2.0), True)
    assert grid.angle_to_step(60.0, LINEAR) == (pytest.approx(8.0), False)  # clipped, and said so
    wobbly = {"steps": [-2.0, -1.0, 0.0, 1.0, 2.0], "change": [-5.0, -6.0, 0.0, 4.0, 9.0]}
    step, ok = grid.angle_to_step(2.0, wobbly)  # made monotone first: still a sensible answer
    assert 0.0 < step < 1.0 and ok
    with pytest.raises(GanLabError, match="does not move"):
        grid.angle_to_step(5.0, {"steps": [-1.0, 1.0], "change": [0.0, 0.0]})


def test_a_turn_that_falls_back_at_its_ends_clips_to_the_step_that_turns_most():
    # notebook 08's calibration of the style-based model shipped in session 18: -40.4 degrees at step -7,
    # only -37.8 at -8, and 38.2 at step 6, falling to 34.2 at 8
    saturating = {"steps": [-8.0, -7.0, -6.0, -4.0, 0.0, 4.0, 6.0, 8.0],
                  "change": [-37.8, -40.4, -39.3, -33.0, 0.0, 37.2, 38.2, 34.2]}
    assert grid.angle_to_step(-60.0, saturating) == (pytest.approx(-7.0), False)
    assert grid.angle_to_step(60.0, saturating) == (pytest.approx(6.0), False)
    step, ok = grid.angle_to_step(-39.0, saturating)  # inside the reach: between steps -7 and -4 of the rising part
    assert -7.0 < step < -4.0 and ok


def fake_directions(names=("yaw", "pitch", "Smiling", "Mouth_Slightly_Open")):
    vectors = latent.unit(np.random.default_rng(1).standard_normal((len(names), 128)))
    info = {"calibration": {"yaw": LINEAR, "pitch": LINEAR}, "steps": {"Smiling": 3.0, "Mouth_Slightly_Open": 4.0}}
    return latent.Directions(list(names), vectors, "regression", info)


def test_plan_covers_every_combination_and_refuses_what_it_cannot_do():
    rows = grid.plan(fake_directions(), yaw=20, step=10, pitch=(-6.0, 0.0), expressions=("neutral", "smile"))
    assert len(rows) == 2 * 2 * 5
    smile = [r for r in rows if r["expression"] == "smile"]
    assert {r["expression_step"] for r in smile} == {3.0}
    assert sorted({r["pitch_step"] for r in rows}) == [-2.0, 0.0]
    assert all(r["reachable"] for r in rows)
    assert not grid.plan(fake_directions(), yaw=60, step=30)[0]["reachable"]
    with pytest.raises(GanLabError, match="Unknown expression"):
        grid.plan(fake_directions(), expressions=("wink",))
    with pytest.raises(GanLabError, match="no calibrated 'yaw'"):
        grid.plan(latent.Directions(["Smiling"], np.eye(1, 128)))
    with pytest.raises(GanLabError, match="needs a 'Mouth_Slightly_Open' direction"):
        grid.plan(fake_directions(("yaw", "pitch", "Smiling")), expressions=("open_mouth",))


def test_only_expressions_with_a_shipped_direction_are_drawable():
    directions = fake_directions(("yaw", "pitch", "Smiling"))
    assert grid.drawable(directions) == ["neutral", "smile"]
    assert grid.drawable(directions, ("open_mouth", "wink", "neutral")) == ["neutral"]


@pytest.fixture
def model(tmp_path):
    """The shipped face generator with made-up (but calibrated) directions beside it."""
    folder = tmp_path / "faces-model"
    folder.mkdir()
    for name in ("generator.xml", "generator.bin", "model.json"):
        (folder / name).symlink_to(SHIPPED / name)
    fake_directions().save(folder / "directions")
    return folder


def test_render_writes_a_dataset_folder_that_says_what_each_image_is(model, tmp_path):
    face = recipe.Recipe(model=str(model), latent_dim=128, seed=7, sliders={"Smiling": 1.0}, locks=["yaw"])
    face_path = face.save(tmp_path / "face.json")
    csv_path = grid.render(face_path, tmp_path / "grid", yaw=20, step=10, expressions=("neutral", "smile"),
                           progress=False, hold=False)
    rows = list(csv.DictReader(open(csv_path)))
    assert len(rows) == 10 and (tmp_path / "grid" / "contact_sheet.png").exists()
    assert (tmp_path / "grid" / "face.json").read_text() == face_path.read_text()
    first = rows[0]
    assert first["yaw"] == "-20.0" and first["expression"] == "neutral" and first["seed"] == "7"
    assert first["model"] == "faces-model" and first["upscale"] == "none" and first["size"] == "64"
    assert all(np.isfinite(float(r["measured_yaw"])) for r in rows)
    picture = np.asarray(Image.open(tmp_path / "grid" / first["file"]))
    assert picture.shape == (64, 64, 3)
    centre = [r for r in rows if r["yaw"] == "0.0" and r["expression"] == "neutral"][0]
    direct = load_generator(model / "generator.xml").generate(face.latent(fake_directions()))[0]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "grid" / centre["file"])), direct)
    assert not np.array_equal(picture, np.asarray(Image.open(tmp_path / "grid" / rows[4]["file"])))


def test_the_same_face_renders_the_same_images(model, tmp_path):
    face_path = recipe.Recipe(model=str(model), latent_dim=128, seed=3).save(tmp_path / "face.json")
    for out in ("a", "b"):
        grid.render(face_path, tmp_path / out, yaw=10, step=10, measure=False, progress=False)
    for name in sorted((tmp_path / "a" / "images").iterdir()):
        assert (tmp_path / "b" / "images" / name.name).read_bytes() == name.read_bytes()


def test_cli_grid_with_bilinear_upscaling(model, tmp_path, capsys):
    face_path = recipe.Recipe(model=str(model), latent_dim=128, seed=2).save(tmp_path / "face.json")
    out = tmp_path / "cli-grid"
    assert main(["grid", str(face_path), "--yaw", "10", "--step", "10", "--out", str(out),
                 "--upscale", "bilinear", "--size", "128", "--no-measure"]) == 0
    rows = list(csv.DictReader(open(out / "grid.csv")))
    assert len(rows) == 3 and rows[0]["size"] == "128" and "measured_yaw" not in rows[0]
    assert Image.open(out / rows[0]["file"]).size == (128, 128)
    assert "grid.csv" in capsys.readouterr().out
    assert main(["grid", str(face_path), "--out", str(out), "--pitch", "up"]) == 1
    assert "comma-separated degrees" in capsys.readouterr().err
    assert main(["grid", str(tmp_path / "nope.json"), "--out", str(out)]) == 1
    assert "save a face from the explorer" in capsys.readouterr().err


def test_a_turn_measures_each_person_and_the_summary_judges_distinct_steps_only(model):
    from gan_lab import plots

    result = grid.turn(model, yaw=20, step=10, people=3, seed=5)
    assert list(result["asked"]) == [-20.0, -10.0, 0.0, 10.0, 20.0] and result["measured"].shape == (3, 5)
    assert np.allclose(result["drift"][:, 2], 0.0) and (result["drift"] >= 0).all()  # frontal: its own reference
    fake = {"asked": np.array([-10.0, 0.0, 10.0, 20.0]), "steps": np.array([-1.0, 0.0, 1.0, 1.0]),  # 20 clipped to 10's step
            "measured": np.array([[-8.0, 0.0, 9.0, 3.0], [-6.0, 1.0, -0.5, -0.5]]), "drift": np.zeros((2, 4))}
    summary = grid.turn_summary(fake)
    assert summary["distinct_steps"] == 3 and summary["monotone"] and summary["people_monotone"] == 0.5
    assert plots.plot_turns({"faces-model": result}).axes[0].get_xlabel() == "yaw asked (degrees)"
