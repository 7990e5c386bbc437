import numpy as np
import pytest

from gan_lab.data import procedural_faces
from gan_lab.errors import GanLabError
from gan_lab.metrics import two_sample


@pytest.fixture(scope="module")
def faces():
    return procedural_faces.faces(800, seed=3)["images"]


def _blurred(images):
    """A 5x5 box blur: the smear a weak generator leaves."""
    padded = np.pad(images.astype(np.float32), ((0, 0), (2, 2), (2, 2), (0, 0)), mode="edge")
    out = sum(padded[:, i:i + 64, j:j + 64] for i in range(5) for j in range(5)) / 25
    return out.astype(np.uint8)


@pytest.mark.slow
def test_real_against_real_is_a_coin_toss_and_blur_is_caught(faces):
    same = two_sample.caught(faces[:400], faces[400:], seed=0)
    blur = two_sample.caught(faces[:400], _blurred(faces[400:]), seed=0)
    assert abs(same["accuracy"] - 0.5) < 4 * same["stderr"] + 0.05, same
    assert blur["accuracy"] > 0.9, blur
    assert same["n_test"] == blur["n_test"] == 240 and same["n_train"] == 560


@pytest.mark.slow
def test_the_same_seed_gives_the_same_figure(faces):
    a, b = (two_sample.caught(faces[:100], _blurred(faces[100:200]), seed=5, epochs=3) for _ in range(2))
    assert a == b


def test_images_of_another_size_or_too_few_are_refused():
    faces = np.zeros((100, 64, 64, 3), np.uint8)
    with pytest.raises(GanLabError, match="one size"):
        two_sample.caught(faces, faces[:, :32, :32])
    with pytest.raises(GanLabError, match="at least 50"):
        two_sample.caught(faces[:20], faces[20:40])
