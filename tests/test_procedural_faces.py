import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gan_lab import GanLabError
from gan_lab.data import face_drawing
from gan_lab.data import procedural_faces as pf


def col(name):
    return pf.ATTRIBUTES.index(name)


def plain(params, **changes):
    """Copies of faces, frontal and sharp, without hats or glasses, with `changes` applied to every face."""
    p = {k: v.copy() for k, v in params.items()}
    base = dict(yaw=0.0, pitch=0.0, blurry=False, hat=0, glasses=False, sunglasses=False, beard=0, stubble=False)
    for key, value in {**base, **changes}.items():
        p[key] = np.broadcast_to(np.asarray(value, p[key].dtype), p[key].shape).copy()
    return pf.relabel(p)


@pytest.fixture(scope="module")
def many():
    return pf.sample(2000, seed=7)


def test_names_follow_celeba():
    assert len(pf.ATTRIBUTES) == 40 and len(set(pf.ATTRIBUTES)) == 40
    assert pf.ATTRIBUTES[:3] == ("5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive")
    assert pf.ATTRIBUTES[-3:] == ("Wearing_Necklace", "Wearing_Necktie", "Young")
    required = {"Male", "Smiling", "Mouth_Slightly_Open", "Eyeglasses", "Black_Hair", "Blond_Hair", "Brown_Hair",
                "Gray_Hair", "Bald", "Bangs", "No_Beard", "Mustache", "Pale_Skin", "Young", "Wearing_Hat",
                "Heavy_Makeup"}
    assert required <= set(pf.DRAWN) <= set(pf.ATTRIBUTES)
    assert pf.LANDMARKS == ("lefteye", "righteye", "nose", "leftmouth", "rightmouth")


def test_same_seed_same_faces_and_other_seeds_differ():
    a, b, c = pf.faces(6, seed=3), pf.faces(6, seed=3), pf.faces(6, seed=4)
    for key in ("images", "attributes", "yaw", "pitch", "landmarks", "identity"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["images"], c["images"])
    assert a["images"].dtype == np.uint8 and a["images"].shape == (6, 64, 64, 3)
    assert a["attributes"].dtype == np.int8 and a["attributes"].shape == (6, 40)
    assert a["landmarks"].dtype == np.float32 and a["landmarks"].shape == (6, 5, 2)
    assert a["yaw"].dtype == np.float32 and a["identity"].dtype == np.int32


def test_a_face_does_not_depend_on_its_batch():
    # Parts are drawn on bands of rows fitted to the batch: nothing may reach outside a face's own band.
    params = pf.sample(24, seed=5)
    params["pitch"] = np.linspace(-20, 20, 24, dtype=np.float32)
    params["yaw"] = np.linspace(50, -50, 24, dtype=np.float32)
    params["hat"][::4], params["hat"][1::4] = 1, 2
    whole, _ = pf.render(params, 64, batch=24)
    for i in range(24):
        alone, _ = pf.render(pf._take(params, slice(i, i + 1)), 64)
        np.testing.assert_array_equal(whole[i], alone[0])


@pytest.mark.parametrize("size", [64, 128])
def test_landmarks_lie_inside_the_image_in_their_order(size, many):
    params = pf._take(many, slice(0, 100))
    images, marks = pf.render(params, size)
    assert marks.min() >= 0 and marks.max() <= size - 1
    x, y = marks[..., 0], marks[..., 1]
    assert (x[:, 0] < x[:, 1]).all() and (x[:, 3] < x[:, 4]).all()  # left (image-left) before right
    assert (y[:, 0] < y[:, 2]).all() and (y[:, 2] < y[:, 3]).all()  # eyes above nose above mouth
    # Pictures, not noise: smooth from pixel to pixel, with a varied palette.
    assert np.abs(np.diff(images.astype(int), axis=2)).mean() < 12
    assert images.std() > 40


def test_size_128_draws_the_same_face():
    params = pf.sample(4, seed=2)
    small, _ = pf.render(params, 64)
    big, marks = pf.render(params, 128)
    assert big.shape == (4, 128, 128, 3)
    shrunk = big.reshape(4, 64, 2, 64, 2, 3).mean(axis=(2, 4))
    assert np.abs(shrunk - small).mean() < 8  # the same picture, twice as sharp
    np.testing.assert_allclose(marks, (pf.landmarks(params, 64) + 0.5) * 2 - 0.5, atol=1e-3)


def test_glasses_put_frame_colour_across_the_eye_band():
    params = pf.sample(8, seed=11)
    green = np.tile(np.float32([0.0, 0.9, 0.0]), (8, 1))
    yaw = np.float32([-30, -15, 0, 15, 30, 0, 10, -10])
    counts = []
    for on in (False, True):
        images, marks = pf.render(plain(params, glasses=on, frame_color=green, yaw=yaw), 64)
        band = []
        for img, m in zip(images.astype(int), marks):
            y = int(round(m[:2, 1].mean()))
            x0, x1 = int(m[0, 0]) - 6, int(m[1, 0]) + 7
            patch = img[y - 4:y + 5, max(x0, 0):x1]
            band.append(((patch[..., 1] > 150) & (patch[..., 0] < 90) & (patch[..., 2] < 90)).sum())
        counts.append(np.array(band))
    assert (counts[0] == 0).all()
    assert (counts[1] >= 15).all(), counts[1]
    labels = plain(params, glasses=True)["attributes"][:, col("Eyeglasses")]
    assert (labels == 1).all()


def mouth_curve(images, marks):
    """How far the mouth's dark line sits lower at its centre than near its corners, in pixels
    (positive: corners up). Each column's line is the centroid of its darkest pixels."""
    out = []
    for img, m in zip(images.astype(np.float32).mean(-1), marks):
        (lx, ly), (rx, ry) = m[3], m[4]
        top = int(min(ly, ry)) - 6
        window = img[top:int(max(ly, ry)) + 9]

        def line(x):
            c = window[:, int(round(x)) - 1:int(round(x)) + 2].mean(1)
            w = np.clip(c.min() + 0.35 * (np.median(c) - c.min()) - c, 0, None)
            return top + (w * np.arange(len(c))).sum() / (w.sum() + 1e-9)

        out.append(line((lx + rx) / 2) - (line(lx + 2.5) + line(rx - 2.5)) / 2)
    return np.array(out)


def test_a_smile_lifts_the_mouth_corners():
    params = plain(pf.sample(8, seed=21), mouth_open=False, lipstick=False)
    neutral = mouth_curve(*pf.render(plain(params, smile=False), 128))
    smiling = mouth_curve(*pf.render(plain(params, smile=True), 128))
    assert (smiling >= 0.8).all() and (neutral <= 0.3).all(), (smiling, neutral)
    marks = pf.landmarks(plain(params, smile=True), 128), pf.landmarks(plain(params, smile=False), 128)
    assert (marks[0][:, 3:, 1] < marks[1][:, 3:, 1]).all()  # the corner landmarks rise too


def test_an_open_mouth_changes_only_the_mouth():
    params = plain(pf.sample(6, seed=22), smile=False)
    closed, marks = pf.render(plain(params, mouth_open=False), 128)
    opened, _ = pf.render(plain(params, mouth_open=True), 128)
    changed = np.abs(opened.astype(int) - closed).max(-1) > 30
    for c, m in zip(changed, marks):
        top, bottom = int(m[3:, 1].min()) - 6, int(m[3:, 1].max()) + 12
        left, right = int(m[3, 0]) - 3, int(m[4, 0]) + 4
        assert c[top:bottom, left:right].sum() >= 15  # a dark gap and teeth
        c[top:bottom, left:right] = False
        assert c.sum() == 0


def test_yaw_moves_the_nose_its_way_monotonically():
    yaws = np.linspace(-50, 50, 11, dtype=np.float32)
    params = pf._take(pf.sample(3, seed=4), np.repeat(np.arange(3), len(yaws)))
    params = plain(params, yaw=np.tile(yaws, 3))
    images, marks = pf.render(params, 64)
    nose_x = marks[:, 2, 0].reshape(3, -1)
    assert (np.diff(nose_x, axis=1) > 0).all()
    eyes_mid = marks[:, :2, 0].mean(1).reshape(3, -1)
    assert (nose_x[:, -1] > eyes_mid[:, -1]).all() and (nose_x[:, 0] < eyes_mid[:, 0]).all()
    assert not np.array_equal(images[0], images[5])  # and the picture turns with it


def test_pitch_moves_the_eyes_up():
    pitches = np.float32([-20, -10, 0, 10, 20])
    params = plain(pf._take(pf.sample(1, seed=6), np.zeros(5, int)), pitch=pitches)
    eye_y = pf.landmarks(params, 64)[:, 0, 1]
    assert (np.diff(eye_y) < 0).all()


def test_rates_and_correlations_are_like_celeba(many):
    a = many["attributes"] == 1
    rate = lambda name: a[:, col(name)].mean()  # noqa: E731
    targets = {"Male": 0.42, "Young": 0.77, "Smiling": 0.48, "Mouth_Slightly_Open": 0.48, "Eyeglasses": 0.065,
               "No_Beard": 0.83, "Heavy_Makeup": 0.39, "Wearing_Lipstick": 0.47, "Bald": 0.022, "Gray_Hair": 0.042,
               "Wearing_Hat": 0.05, "Bangs": 0.15, "Blond_Hair": 0.15, "Pale_Skin": 0.043}
    for name, target in targets.items():
        assert abs(rate(name) - target) < max(0.04, target * 0.5), (name, rate(name))
    for name in set(pf.ATTRIBUTES) - set(pf.DRAWN):
        assert (many["attributes"][:, col(name)] == -1).all()
    assert set(np.unique(many["attributes"])) == {-1, 1}
    male, young, smile = a[:, col("Male")], a[:, col("Young")], a[:, col("Smiling")]
    opened = a[:, col("Mouth_Slightly_Open")]
    assert opened[smile].mean() > opened[~smile].mean() + 0.3
    assert a[~young, col("Eyeglasses")].mean() > 2 * a[young, col("Eyeglasses")].mean()
    facial = a[:, [col("Mustache"), col("Goatee"), col("5_o_Clock_Shadow"), col("Sideburns")]].any(1)
    assert not (facial & ~male).any() and a[~male, col("No_Beard")].all()
    assert not (a[:, col("Heavy_Makeup")] & male).any() and not (a[:, col("Wearing_Lipstick")] & male).any()
    assert male[a[:, col("Bald")]].all() and young[a[:, col("Bald")]].mean() < 0.5
    assert young[a[:, col("Gray_Hair")]].mean() < 0.3


def test_at_most_one_hair_colour_and_none_when_not_visible(many):
    a = many["attributes"] == 1
    colours = a[:, [col(c) for c in ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")]].sum(1)
    assert colours.max() == 1
    bald = a[:, col("Bald")]
    assert (colours[bald] == 0).all()
    hidden = (many["hat"] > 0) & (many["hair_length"] == 0)
    assert hidden.any() and (colours[hidden] == 0).all()
    others = ~bald & ~hidden & ~many["bald"] & (many["hair_kind"] == 4)  # red and such: no CelebA column
    assert others.any() and (colours[others] == 0).all()
    assert (colours[~bald & ~hidden & ~many["bald"] & (many["hair_kind"] < 4)] == 1).all()
    hat = many["hat"] > 0
    assert not (a[:, col("Bangs")] & hat).any() and not (a[:, col("Bald")] & hat).any()
    shades = many["sunglasses"]
    assert shades.any() and not (a[:, col("Narrow_Eyes")] & shades).any()


def test_a_hat_hides_short_hair_in_the_picture_and_the_labels():
    params = pf.sample(40, seed=8)
    short = np.flatnonzero((params["hair_length"] == 0) & ~params["bald"])[:4]
    p = pf._take(params, short)
    hatted = plain(p, hat=1)
    colours = [col("Black_Hair"), col("Brown_Hair"), col("Blond_Hair"), col("Gray_Hair")]
    assert (hatted["attributes"][:, colours] == -1).all() and (plain(p)["attributes"][:, colours] == 1).any()
    s = face_drawing._Scene(hatted, 64)
    s.img = np.zeros((4, 64, 64, 3), np.float32)
    face_drawing._hair(s)
    assert s.hair.max() == 0


def test_photos_of_one_person_share_who_they_are():
    p = pf.sample(60, seed=9, per_identity=6)
    assert (np.bincount(p["identity"])[1:] == 6).all() and p["identity"].min() == 1
    groups = p["identity"].reshape(10, 6)
    assert (groups == groups[:, :1]).all()
    for key in ("male", "age", "skin", "face_shape", "hair_kind", "hair_color", "hair_length", "eye_color", "beard",
                "head_w"):
        values = p[key].reshape(10, 6, -1)
        assert (values == values[:, :1]).all(), key
    for name in ("Male", "Young", "Pale_Skin", "Big_Nose", "Oval_Face", "Chubby"):
        labels = p["attributes"][:, col(name)].reshape(10, 6)
        assert (labels == labels[:, :1]).all(), name
    assert len(np.unique(p["yaw"].reshape(10, 6)[0])) == 6  # but each photo has its own pose
    assert pf.sample(7, per_identity=3)["identity"].tolist() == [1, 1, 1, 2, 2, 2, 3]


def parse(root):
    names = ("list_attr_celeba.txt", "list_landmarks_align_celeba.txt", "list_eval_partition.txt",
             "identity_CelebA.txt", "list_pose_procedural.txt")
    return {name: (root / name).read_text().splitlines() for name in names}


def test_write_celeba_layout_writes_exactly_celebas_files(tmp_path):
    n = 40
    root = pf.write_celeba_layout(tmp_path / "faces", n, size=64, seed=3, per_identity=4, progress=False)
    files = parse(root)
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    assert sorted(p.name for p in (root / "img_align_celeba").iterdir()) == names
    image = Image.open(root / "img_align_celeba" / "000001.jpg")
    assert image.format == "JPEG" and image.size == (64, 64) and image.mode == "RGB"

    attr = files["list_attr_celeba.txt"]
    assert attr[0] == str(n) and attr[1] == " ".join(pf.ATTRIBUTES) and len(attr) == n + 2
    row = re.compile(r"^(\d{6}\.jpg)((?: (?:-1| 1)){40})$")
    parsed = [row.match(line) for line in attr[2:]]
    assert all(parsed) and [m.group(1) for m in parsed] == names
    values = np.array([m.group(2).split() for m in parsed], int)

    marks = files["list_landmarks_align_celeba.txt"]
    assert marks[0] == str(n) and marks[1] == ("lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y "
                                              "leftmouth_x leftmouth_y rightmouth_x rightmouth_y")
    points = np.array([line.split()[1:] for line in marks[2:]], int)
    assert [line.split()[0] for line in marks[2:]] == names and points.shape == (n, 10)
    assert points.min() >= 0 and points.max() <= 63

    partition = np.array([int(line.split()[1]) for line in files["list_eval_partition.txt"]])
    assert [line.split()[0] for line in files["list_eval_partition.txt"]] == names
    assert (np.diff(partition) >= 0).all() and set(partition) == {0, 1, 2}  # contiguous, like CelebA
    identity = np.array([int(line.split()[1]) for line in files["identity_CelebA.txt"]])
    assert identity.min() == 1 and len(files["identity_CelebA.txt"]) == n
    for person in np.unique(identity):
        assert len(set(partition[identity == person])) == 1  # nobody in two partitions

    pose = files["list_pose_procedural.txt"]
    assert pose[0] == str(n) and pose[1] == "yaw pitch"
    assert all(re.match(r"^\d{6}\.jpg -?\d+\.\d -?\d+\.\d$", line) for line in pose[2:])

    # What the files say is what `sample` drew, in the files' order.
    params = pf.sample(n, seed=3, per_identity=4)
    order, _ = pf._partition(params["identity"], (0.8, 0.1, 0.1), 3)
    np.testing.assert_array_equal(values, params["attributes"][order])
    np.testing.assert_array_equal(identity, params["identity"][order])
    np.testing.assert_array_equal(points, np.rint(pf.landmarks(pf._take(params, order), 64)).reshape(n, 10))
    yaw = np.array([float(line.split()[1]) for line in pose[2:]])
    np.testing.assert_allclose(yaw, params["yaw"][order], atol=0.051)
    assert not list(root.glob("*.tmp"))


def test_write_celeba_layout_is_byte_identical_for_a_seed(tmp_path):
    a = pf.write_celeba_layout(tmp_path / "a", 12, size=64, seed=1, per_identity=3, progress=False)
    b = pf.write_celeba_layout(tmp_path / "b", 12, size=64, seed=1, per_identity=3, progress=False)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 12 + 5
    for path in files:
        assert (a / path).read_bytes() == (b / path).read_bytes(), path
    # Rewriting a smaller set in the same folder leaves no stale images behind.
    pf.write_celeba_layout(a, 5, size=64, seed=1, per_identity=3, progress=False)
    assert len(list((a / "img_align_celeba").iterdir())) == 5


def test_write_celeba_layout_refuses_a_bad_split(tmp_path):
    with pytest.raises(GanLabError, match="split"):
        pf.write_celeba_layout(tmp_path, 4, split=(0.5, -0.1, 0.6), progress=False)


ASK_FOR_A_SET = "from gan_lab.data import face_sets; print(face_sets.procedural_root(n=40, size=32, seed=5))"


@pytest.mark.slow
@pytest.mark.subprocess
def test_two_processes_asking_for_one_cached_face_set_draw_it_once(tmp_path):
    """Two processes (two test workers, a notebook beside a command) ask for the same cached set at once:
    one draws it while the other waits on the cache lock, then both read the same complete folder."""
    env = os.environ | {"GAN_LAB_CACHE": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", ASK_FOR_A_SET], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    roots = {out.strip().splitlines()[-1] for out, _ in outs}
    assert roots == {str(tmp_path / "procedural-faces-32px-40-seed5")}
    assert sum("Drawing faces" in err for _, err in outs) == 1  # drawn once, not twice into one folder
    root = tmp_path / "procedural-faces-32px-40-seed5"
    assert len(list((root / "img_align_celeba").glob("*.jpg"))) == 40
    assert not [p for p in root.rglob("*") if ".tmp" in p.name]
