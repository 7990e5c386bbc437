import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from gan_lab import GanLabError
from gan_lab.data import domains
from gan_lab.data.celeba import ATTRIBUTES


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LAB_CACHE", str(tmp_path / "cache"))


def noise(n, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def batches(ds):
    return [(a.numpy(), b.numpy()) for a, b in ds]


def tinted(folder, n, rgb, sizes=((32, 32),), seed=0):
    """`n` PNG files of one tint, each with its own noise (so each is recognisable)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        pixels = np.clip(np.array(rgb) + rng.integers(-30, 30, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return folder


# ----------------------------------------------------------------------------- unpaired batches

def test_unpaired_batches_are_float_in_unit_range_with_fixed_shapes():
    got = batches(domains.unpaired(noise(6), noise(10, seed=1), batch_size=4, seed=0))
    assert len(got) == 2  # 10 // 4: the larger domain sets the epoch, the short batch is dropped
    for a, b in got:
        assert a.shape == b.shape == (4, 32, 32, 3) and a.dtype == b.dtype == np.float32
        assert -1 <= a.min() and a.max() <= 1 and -1 <= b.min() and b.max() <= 1
    a, b = batches(domains.unpaired(noise(6), noise(10, seed=1), batch_size=3, image_size=24))[0]
    assert a.shape == b.shape == (3, 24, 24, 3)
    with pytest.raises(GanLabError, match="load_size"):
        domains.unpaired(noise(4), noise(4), load_size=30)


def test_augmentation_is_deterministic_under_the_seed():
    a, b = noise(8), noise(8, seed=1)
    first = batches(domains.unpaired(a, b, batch_size=4, seed=5))
    again = batches(domains.unpaired(a, b, batch_size=4, seed=5))
    other = batches(domains.unpaired(a, b, batch_size=4, seed=6))
    assert all((x == y).all() for pair, same in zip(first, again) for x, y in zip(pair, same))
    assert any((x != y).any() for pair, diff in zip(first, other) for x, y in zip(pair, diff))
    ds = domains.unpaired(a, b, batch_size=4, seed=5)
    assert all((x == y).all() for pair, same in zip(first, batches(ds)) for x, y in zip(pair, same))
    assert any((x != y).any() for pair, diff in zip(first, batches(ds)) for x, y in zip(pair, diff))  # next epoch


def windows(image, load, s):
    """Every crop of `image` resized to `load`, flipped or not: {(top, left, flipped): crop}."""
    big = tf.image.resize(image.astype(np.float32) / 127.5 - 1, (load, load)).numpy()
    return {(t, l, f): (big[t:t + s, l:l + s][:, ::-1] if f else big[t:t + s, l:l + s])
            for t in range(load - s + 1) for l in range(load - s + 1) for f in (False, True)}


def test_augmentation_resizes_up_then_really_crops_and_flips():
    images = noise(16)
    plain, _ = batches(domains.unpaired(images, images, batch_size=16, load_size=32, flip=False))[0]
    assert sorted(map(bytes, np.rint((plain + 1) * 127.5).astype(np.uint8))) == sorted(map(bytes, images))
    augmented, _ = batches(domains.unpaired(images, images, batch_size=16, seed=1))[0]  # load 36 (1.125 x 32)
    assert not any(np.allclose(out, img) for out in augmented for img in plain)  # no image left as it was
    crops = set()
    for out in augmented:  # each output is one crop of one upsized input, flipped or not
        found = [(i, key) for i, img in enumerate(images) for key, w in windows(img, 36, 32).items()
                 if np.allclose(w, out, atol=1e-5)]
        assert len(found) == 1
        crops.add(found[0][1])
    assert len({c[:2] for c in crops}) > 1 and {c[2] for c in crops} == {False, True}


def test_unpaired_draws_a_from_folder_a_and_b_from_folder_b_and_covers_the_larger(tmp_path):
    a_dir, b_dir = tinted(tmp_path / "a", 6, (200, 40, 40)), tinted(tmp_path / "b", 10, (40, 40, 200), seed=1)
    a_data, b_data = domains.read(a_dir, b_dir, image_size=32, verbose=False)
    got = batches(domains.unpaired(a_data.images, b_data.images, batch_size=2, seed=3, load_size=32, flip=False))
    assert len(got) == 5  # an epoch is the larger domain: 10 B images
    a_out = np.rint((np.concatenate([a for a, _ in got]) + 1) * 127.5).astype(np.uint8)
    b_out = np.rint((np.concatenate([b for _, b in got]) + 1) * 127.5).astype(np.uint8)
    assert (a_out[..., 0].mean((1, 2)) > a_out[..., 2].mean((1, 2)) + 100).all()  # every a red
    assert (b_out[..., 2].mean((1, 2)) > b_out[..., 0].mean((1, 2)) + 100).all()  # every b blue
    assert sorted(map(bytes, b_out)) == sorted(map(bytes, b_data.images))  # each B once
    assert set(map(bytes, a_out)) == set(map(bytes, a_data.images))  # A cycles: all 6, some twice
    for a, b in batches(domains.unpaired(a_data.images, b_data.images, batch_size=2)):  # augmented too
        assert (a[..., 0] > a[..., 2]).mean() > 0.95 and (b[..., 2] > b[..., 0]).mean() > 0.95


# ----------------------------------------------------------------------------- folders

def test_an_empty_or_single_image_folder_is_refused(tmp_path):
    b_dir = tinted(tmp_path / "b", 3, (40, 40, 200))
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanLabError, match="No images in .*empty"):
        domains.read(tmp_path / "empty", b_dir, verbose=False)
    one = tinted(tmp_path / "one", 1, (200, 40, 40))
    with pytest.raises(GanLabError, match=f"Domain B folder {one} holds a single .*at least 2 images"):
        domains.read(b_dir, one, verbose=False)


def test_a_corrupt_image_is_skipped_and_counted(tmp_path):
    a_dir, b_dir = tinted(tmp_path / "a", 3, (200, 40, 40)), tinted(tmp_path / "b", 4, (40, 40, 200))
    (a_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    truncated = (b_dir / "000.png").read_bytes()
    (b_dir / "truncated.png").write_bytes(truncated[:len(truncated) // 2])
    with pytest.warns(UserWarning, match="Skipped 1 unreadable"):
        a, b = domains.read(a_dir, b_dir, image_size=32, verbose=False)
    assert len(a) == 3 and [s[0] for s in a.skipped] == ["broken.png"]
    assert len(b) == 4 and [s[0] for s in b.skipped] == ["truncated.png"]


def test_images_of_mixed_sizes_come_out_at_the_asked_size(tmp_path):
    sizes = ((40, 40), (100, 80), (64, 64))
    a_dir, b_dir = tinted(tmp_path / "a", 3, (200, 40, 40), sizes), tinted(tmp_path / "b", 3, (40, 40, 200), sizes)
    a, b = domains.read(a_dir, b_dir, image_size=48, verbose=False)
    assert a.images.shape == b.images.shape == (3, 48, 48, 3) and a.images.dtype == np.uint8
    assert (a.images[..., 0].mean((1, 2)) > 150).all() and (b.images[..., 2].mean((1, 2)) > 150).all()


# ----------------------------------------------------------------------------- procedural pairs

CHANGED = {"blond_hair": ({"Black_Hair", "Blond_Hair"}, set(), 0.35),  # (always, sometimes, area)
           "eyeglasses": ({"Eyeglasses"}, set(), 0.05),
           "beard": ({"No_Beard", "Mustache"}, {"Double_Chin"}, 0.15)}  # a full beard hides a double chin


@pytest.mark.parametrize("attribute", list(domains.TOGGLES))
def test_pairs_differ_only_in_the_toggle(attribute):
    p = domains.pairs(12, attribute, size=64, seed=2)
    a, b = p["a"].astype(int), p["b"].astype(int)
    assert p["a"].shape == p["b"].shape == (12, 64, 64, 3) and p["a"].dtype == np.uint8
    assert (p["identity"] == np.arange(1, 13)).all() and p["attributes_a"].shape == (12, 40)
    distance = np.abs(a[:, None] - b[None]).mean(axis=(2, 3, 4))  # person i in A vs person j in B
    assert (distance.argmin(axis=1) == np.arange(12)).all()  # each person's B is nearest their own A
    assert np.diag(distance).mean() < 0.5 * distance[~np.eye(12, dtype=bool)].mean()
    area = (np.abs(a - b).max(-1) > 40).mean(axis=(1, 2))
    assert (area < CHANGED[attribute][2]).all() and (area > 0.002).all()  # the toggle shows, locally
    assert (a[:, :3, :3] == b[:, :3, :3]).all()  # the background is untouched
    differ = p["attributes_a"] != p["attributes_b"]
    always, sometimes, _ = CHANGED[attribute]
    assert all(differ[:, ATTRIBUTES.index(c)].all() for c in always)
    assert {ATTRIBUTES[c] for c in np.flatnonzero(differ.any(0))} <= always | sometimes
    assert domains.in_domain(p["attributes_a"], attribute, "a").all()
    assert domains.in_domain(p["attributes_b"], attribute, "b").all()
    assert not domains.in_domain(p["attributes_a"], attribute, "b").any()
    probabilities = (p["attributes_b"] + 1) * 0.4 + 0.1  # in [0.1, 0.9], as a classifier gives
    assert domains.in_domain(probabilities.astype(np.float32), attribute, "b").all()
    again, other = domains.pairs(12, attribute, size=64, seed=2), domains.pairs(12, attribute, size=64, seed=3)
    assert all((again[k] == p[k]).all() for k in p) and (other["a"] != p["a"]).any()


def test_blond_hair_recolours_black_hair_and_keeps_it_in_view():
    p = domains.pairs(16, size=64, seed=4)
    a, b = p["a"].astype(int), p["b"].astype(int)
    changed = np.abs(a - b).max(-1) > 40
    assert (a[changed].mean(-1) < 70).mean() > 0.85  # dark in A
    assert (b[changed][:, 0] > b[changed][:, 2] + 40).mean() > 0.9  # warm yellow in B
    hair = [ATTRIBUTES.index(c) for c in ("Bald", "Wearing_Hat")]
    assert (p["attributes_a"][:, hair] == -1).all() and (p["attributes_b"][:, hair] == -1).all()


def test_beard_pairs_are_men_and_in_domain_checks_its_input():
    p = domains.pairs(6, "beard", size=32)
    assert (p["attributes_a"][:, ATTRIBUTES.index("Male")] == 1).all()
    assert (p["attributes_a"][:, ATTRIBUTES.index("5_o_Clock_Shadow")] == -1).all()
    with pytest.raises(GanLabError, match="domain must be 'a' or 'b'"):
        domains.in_domain(p["attributes_a"], "beard", "c")
    with pytest.raises(GanLabError, match="\\(n, 40\\)"):
        domains.in_domain(p["attributes_a"][:, :5], "beard", "a")


# ----------------------------------------------------------------------------- written pairs

def test_write_pairs_writes_matching_folders_and_a_csv_that_lines_up(tmp_path):
    root = domains.write_pairs(tmp_path / "hair", 5, size=32, seed=1, progress=False)
    names = [f"{i:06d}.png" for i in range(1, 6)]
    assert sorted(p.name for p in (root / "a").iterdir()) == sorted(p.name for p in (root / "b").iterdir()) == names
    lines = (root / "pairs.csv").read_text().splitlines()
    assert lines[0] == "a,b,identity" and len(lines) == 6
    drawn = domains.pairs(5, size=32, seed=1)
    for i, line in enumerate(lines[1:]):
        a, b, identity = line.split(",")
        assert int(identity) == drawn["identity"][i] and a == f"a/{names[i]}" and b == f"b/{names[i]}"
        assert (np.asarray(Image.open(root / a)) == drawn["a"][i]).all()
        assert (np.asarray(Image.open(root / b)) == drawn["b"][i]).all()
    meta = json.loads((root / "domains.json").read_text())
    assert meta == {"attribute": "blond_hair", "description": domains.TOGGLES["blond_hair"].description,
                    "n": 5, "size": 32, "seed": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hair"]  # no temporary folder left
    with pytest.raises(GanLabError, match="not an empty folder"):
        domains.write_pairs(root, 2, size=32, progress=False)
    (tmp_path / "empty").mkdir()
    assert len(list((domains.write_pairs(tmp_path / "empty", 2, "eyeglasses", size=32, progress=False)
                     / "a").iterdir())) == 2


def test_an_interrupted_write_leaves_no_folder(tmp_path, monkeypatch):
    render = domains.procedural_faces.render
    calls = []

    def failing(params, size):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return render(params, size)

    monkeypatch.setattr(domains.procedural_faces, "render", failing)
    with pytest.raises(KeyboardInterrupt):
        domains.write_pairs(tmp_path / "hair", 3, size=32, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_attribute_is_refused_with_the_choices(tmp_path):
    with pytest.raises(GanLabError, match="Unknown domain attribute 'smile'.*blond_hair, eyeglasses, beard"):
        domains.pairs(2, "smile")
    with pytest.raises(GanLabError, match="Unknown domain attribute"):
        domains.write_pairs(tmp_path / "x", 2, "smile", progress=False)
    assert not (tmp_path / "x").exists()
