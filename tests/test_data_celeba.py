import shutil
import urllib.error
import zipfile

import numpy as np
import pytest
from PIL import Image, ImageDraw

from gan_lab import GanLabError
from gan_lab.data import celeba, imagefiles
from gan_lab.data.procedural_faces import write_celeba_layout

N = 60


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """60 procedural faces in CelebA's layout, written once; tests copy it before changing it.
    Two photos per person: the partition splits people, and 30 people fill all three splits."""
    root = tmp_path_factory.mktemp("celeba-original")
    write_celeba_layout(root, N, size=64, seed=0, per_identity=2, progress=False)
    return root


@pytest.fixture
def root(layout, tmp_path):
    return shutil.copytree(layout, tmp_path / "celeba")


def table(path, header=True):
    """The list file's rows as {name: values}, parsed independently of the reader."""
    lines = path.read_text().splitlines()[2 if header else 0:]
    return {line.split()[0]: line.split()[1:] for line in lines if line.strip()}


def test_splits_match_the_partition_file_and_lists_stay_aligned(root):
    partition = table(root / celeba.PARTITION, header=False)
    attrs, pose = table(root / celeba.ATTR), table(root / celeba.POSE)
    total = 0
    for split, code in (("train", "0"), ("val", "1"), ("test", "2")):
        data = celeba.read(root, split, verbose=False)
        expected = [name for name, (p,) in partition.items() if p == code]
        assert data.files.tolist() == expected and len(data) == len(expected) > 0
        assert data.images.shape == (len(expected), 64, 64, 3) and data.images.dtype == np.uint8
        assert data.attribute_names == list(celeba.ATTRIBUTES)
        name = expected[-1]
        assert data.attributes[-1].tolist() == [(int(v) + 1) / 2 for v in attrs[name]]
        assert data.pose[-1] == pytest.approx([float(v) for v in pose[name]], abs=1e-4)
        assert data.landmarks.shape == (len(expected), 10) and data.identity.shape == (len(expected),)
        total += len(data)
    everything = celeba.read(root, "all", verbose=False)
    assert len(everything) == total == N and everything.pose_names == ["yaw", "pitch"]
    assert set(np.unique(everything.attributes)) <= {0.0, 1.0} and everything.skipped == []


def test_attribute_subset_keeps_the_given_order(root):
    full = celeba.read(root, "train", verbose=False)
    some = celeba.read(root, "train", attributes=["Smiling", "Male", "Bald"], verbose=False)
    assert some.attribute_names == ["Smiling", "Male", "Bald"]
    idx = [celeba.ATTRIBUTES.index(a) for a in some.attribute_names]
    assert (some.attributes == full.attributes[:, idx]).all()


def test_unknown_attribute_lists_the_valid_names(root):
    with pytest.raises(GanLabError, match="Unknown CelebA attribute.*'Smiley'.*5_o_Clock_Shadow.*Young"):
        celeba.read(root, attributes=["Smiling", "Smiley"], verbose=False)


def test_load_gives_images_in_unit_range_and_binary_attributes(root):
    ds = celeba.load(root, "train", batch_size=16, seed=1, verbose=False)
    batches = [(x.numpy(), a.numpy()) for x, a in ds]
    again = [x.numpy() for x, _ in celeba.load(root, "train", batch_size=16, seed=1, verbose=False)]
    x, a = batches[0]
    assert x.shape == (16, 64, 64, 3) and x.dtype == np.float32 and a.shape == (16, 40) and a.dtype == np.float32
    assert all(-1.0 <= b[0].min() and b[0].max() <= 1.0 for b in batches)
    assert x.max() - x.min() > 1.0  # real pictures, not a constant
    assert set(np.unique(a)) <= {0.0, 1.0}
    assert all((b[0] == c).all() for b, c in zip(batches, again))  # seeded
    single = next(iter(celeba.load(root, "val", batch_size=None, shuffle=False, with_pose=True, verbose=False)))
    assert [t.shape for t in single] == [(64, 64, 3), (40,), (2,)]


@pytest.fixture(scope="module")
def faces_200(tmp_path_factory):
    """200 procedural faces in CelebA's layout, all in the test split: three batches of 64 and 8 over."""
    root = tmp_path_factory.mktemp("celeba-test-split")
    return write_celeba_layout(root, 200, size=32, split=(0, 0, 1), per_identity=2, progress=False)


def as_uint8(batches):
    """Batches of [-1, 1] float images back to the uint8 images they were made from."""
    return np.rint((np.concatenate(batches) + 1.0) * 127.5).astype(np.uint8)


def same_images(got, expected):
    """Equal as multisets: every expected image appears exactly as often, in any order."""
    return len(got) == len(expected) and sorted(map(bytes, got)) == sorted(map(bytes, expected))


@pytest.mark.parametrize("shuffle", [True, False])
def test_the_test_split_yields_every_image_with_or_without_shuffling(faces_200, shuffle):
    data = celeba.read(faces_200, "test", image_size=32, verbose=False)
    assert len(data) == 200 and len(set(map(bytes, data.images))) == 200  # 200 distinct faces
    ds = celeba.load(faces_200, "test", image_size=32, batch_size=64, shuffle=shuffle, verbose=False)
    pairs = [(x.numpy(), a.numpy()) for x, a in ds]
    assert [len(x) for x, _ in pairs] == [64, 64, 64, 8]
    images = as_uint8([x for x, _ in pairs])
    assert same_images(images, data.images)
    # Each image still comes with its own attributes.
    row = {bytes(img): i for i, img in enumerate(data.images)}
    attributes = np.concatenate([a for _, a in pairs])
    assert (attributes == data.attributes[[row[bytes(img)] for img in images]]).all()


def test_eval_splits_keep_file_order_by_default_and_drop_remainder_is_explicit(faces_200):
    data = celeba.read(faces_200, "test", image_size=32, verbose=False)
    default = [x.numpy() for x, _ in celeba.load(faces_200, "test", image_size=32, verbose=False)]
    assert (as_uint8(default) == data.images).all()  # all 200, unshuffled, in the partition file's order
    dropped = [x.numpy() for x, _ in celeba.load(faces_200, "test", image_size=32, batch_size=64,
                                                 drop_remainder=True, verbose=False)]
    assert [len(x) for x in dropped] == [64, 64, 64]
    kept = as_uint8(dropped)
    assert len(set(map(bytes, kept))) == 192 and set(map(bytes, kept)) <= set(map(bytes, data.images))


def test_image_size_128_is_allowed(root):
    assert celeba.read(root, "val", image_size=128, verbose=False).images.shape[1:] == (128, 128, 3)


def asymmetric_photo(path):
    """A 178x218 picture: red bands above and below the central square, which is dark on the
    left half and white on the right, with a green block in its top-left corner."""
    img = Image.new("RGB", (178, 218), (255, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 20, 88, 197), fill=(20, 20, 20))
    draw.rectangle((89, 20, 177, 197), fill=(255, 255, 255))
    draw.rectangle((0, 20, 17, 37), fill=(0, 200, 0))
    img.save(path, quality=95)


def test_a_178x218_image_is_center_cropped_to_its_central_square(root):
    name = celeba.read(root, "train", verbose=False).files[0]
    asymmetric_photo(root / celeba.IMAGES / name)
    img = celeba.read(root, "train", verbose=False).images[0].astype(int)
    assert img.shape == (64, 64, 3)
    assert not (abs(img[:, :, 0] - 255) + img[:, :, 1] + img[:, :, 2] < 60).any()  # no red band survives
    assert img[32, 20].max() < 60 and img[32, 50].min() > 200  # dark left, white right: not mirrored
    assert img[2, 2, 1] > 150 and img[2, 2, 0] < 60  # green at the top left: not flipped
    assert img[60, 3, 1] < 60
    face = celeba.read(root, "train", crop="face", verbose=False).images[0].astype(int)
    assert face[5, 5, 1] < 60  # the tighter 148x148 crop cuts the green corner block


def test_missing_list_file_is_named_with_where_to_get_it(root):
    (root / celeba.ATTR).unlink()
    with pytest.raises(GanLabError, match="list_attr_celeba.txt is missing.*mmlab.ie.cuhk.edu.hk.*drive.google"):
        celeba.read(root, verbose=False)


def test_partition_naming_absent_images_says_how_many_and_which(root):
    with open(root / celeba.PARTITION, "a") as f:
        f.write("900001.jpg 0\n900002.jpg 0\n900003.jpg 0\n")
    with pytest.raises(GanLabError, match="names 3 image\\(s\\) that are not in .*900001.jpg, 900002.jpg"):
        celeba.read(root, "train", verbose=False)
    assert len(celeba.read(root, "val", verbose=False)) > 0  # other splits are still fine


def test_truncated_list_file_is_refused(root):
    lines = (root / celeba.ATTR).read_text().splitlines()
    (root / celeba.ATTR).write_text("\n".join(lines[:-5]) + "\n")
    with pytest.raises(GanLabError, match="row count.*truncated"):
        celeba.read(root, verbose=False)


def test_corrupt_images_are_skipped_counted_and_warned_about(root):
    names = celeba.read(root, "train", verbose=False).files
    (root / celeba.IMAGES / names[2]).write_bytes(b"not a jpeg at all")
    good = (root / celeba.IMAGES / names[5]).read_bytes()
    (root / celeba.IMAGES / names[5]).write_bytes(good[: len(good) // 2])  # truncated download
    with pytest.warns(UserWarning, match=f"Skipped 2 unreadable image file\\(s\\) of {len(names)}.*{names[2]}"):
        data = celeba.read(root, "train", verbose=False)
    assert [s[0] for s in data.skipped] == [names[2], names[5]]
    assert len(data) == len(data.attributes) == len(data.pose) == len(data.files) == len(names) - 2
    assert names[2] not in data.files and names[3] in data.files


def zip_images(root, extra=()):
    archive = root / f"{celeba.IMAGES}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((root / celeba.IMAGES).iterdir()):
            zf.write(path, f"{celeba.IMAGES}/{path.name}")
        for name in extra:
            zf.writestr(name, b"evil")
    shutil.rmtree(root / celeba.IMAGES)
    return archive


def test_the_zip_is_extracted_once(root):
    before = celeba.read(root, "val", verbose=False).images
    zip_images(root)
    assert (celeba.read(root, "val", verbose=False).images == before).all()
    assert (root / celeba.IMAGES).is_dir() and not list(root.glob(".img_align_celeba-*"))
    (root / f"{celeba.IMAGES}.zip").unlink()  # later reads use the folder
    assert len(celeba.read(root, "val", verbose=False)) == len(before)


@pytest.mark.parametrize("entry", ["../evil.jpg", "/tmp/evil.jpg", "img_align_celeba/../../evil.jpg"])
def test_a_zip_with_escaping_entries_is_refused_whole(root, entry):
    zip_images(root, extra=[entry])
    with pytest.raises(GanLabError, match=f"entry '{entry}' that would be written outside.*nothing was extracted"):
        celeba.read(root, verbose=False)
    assert not (root / celeba.IMAGES).exists() and not (root.parent / "evil.jpg").exists()
    assert not list(root.glob(".img_align_celeba-*"))


def test_the_cache_skips_decoding_on_the_second_read(root, monkeypatch, cache):
    calls = []
    real = imagefiles.decode
    monkeypatch.setattr(imagefiles, "decode", lambda *a: calls.append(a[0]) or real(*a))
    first = celeba.read(root, "train", verbose=False)
    assert len(calls) == len(first) and list(cache.rglob("*.npz"))
    calls.clear()
    second = celeba.read(root, "train", verbose=False)
    assert calls == [] and (second.images == first.images).all()
    # Rewriting one image invalidates the cache (its size and mtime are in the key).
    asymmetric_photo(root / celeba.IMAGES / first.files[0])
    third = celeba.read(root, "train", verbose=False)
    assert len(calls) == len(first) and not (third.images[0] == first.images[0]).all()
    assert len(list(cache.rglob("*.npz"))) == 1  # the stale cache was dropped


def test_verify_reports_ok_missing_and_bad_checksums(root, monkeypatch):
    monkeypatch.setitem(celeba.FILES, celeba.PARTITION, celeba.md5(root / celeba.PARTITION))
    status = celeba.verify(root)
    assert status[celeba.PARTITION] == "ok"
    assert status[celeba.ATTR] == "bad checksum"  # procedural, not the published file
    assert status["list_bbox_celeba.txt"] == "missing"
    assert status["img_align_celeba.zip"] == "extracted"
    assert set(status) == set(celeba.FILES)


def test_download_offline_fails_with_where_to_get_the_files(tmp_path, monkeypatch):
    def offline(url, dest, timeout=60):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(celeba, "_fetch", offline)
    with pytest.raises(GanLabError, match="Could not download CelebA's .*name resolution.*by hand.*mmlab.*verify"):
        celeba.download(tmp_path / "celeba")
    assert not list((tmp_path / "celeba").iterdir())  # no partial or fake files left behind


def test_download_refuses_a_file_with_the_wrong_checksum(tmp_path, monkeypatch):
    monkeypatch.setattr(celeba, "_fetch", lambda url, dest, timeout=60: dest.write_text("<html>Quota exceeded</html>"))
    with pytest.raises(GanLabError, match="MD5 .* not the published .*quota"):
        celeba.download(tmp_path / "celeba")
    assert not list((tmp_path / "celeba").iterdir())


def test_download_keeps_files_that_already_check_out(tmp_path, monkeypatch):
    root = tmp_path / "celeba"
    root.mkdir()
    for name in celeba.FILES:
        (root / name).write_text(name)
        monkeypatch.setitem(celeba.FILES, name, celeba.md5(root / name))
    monkeypatch.setattr(celeba, "_fetch", lambda *a, **k: pytest.fail("downloaded a file it already had"))
    assert celeba.download(root) == root


def test_unknown_split_crop_or_folder(root, tmp_path):
    with pytest.raises(GanLabError, match="Unknown CelebA split"):
        celeba.read(root, "validation")
    with pytest.raises(GanLabError, match="Unknown crop"):
        celeba.read(root, crop="tight")
    with pytest.raises(GanLabError, match="does not exist.*mmlab"):
        celeba.read(tmp_path / "nowhere")
    (root / celeba.POSE).unlink()
    with pytest.raises(GanLabError, match="with_pose=True needs list_pose_procedural.txt"):
        celeba.load(root, with_pose=True, verbose=False)
    (root / celeba.PARTITION).write_text("".join(f"{n} 0\n" for n in celeba.read(root, "all", verbose=False).files))
    assert len(celeba.read(root, "test", verbose=False)) == 0
    with pytest.raises(GanLabError, match="The CelebA test split .* has no images"):
        celeba.load(root, "test", verbose=False)
