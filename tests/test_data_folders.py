import numpy as np
import pytest
from PIL import Image

from gan_lab import GanLabError
from gan_lab.data import folders, imagefiles


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def gradient(w, h):
    """An RGB picture whose red rises left to right and green top to bottom."""
    x, y = np.meshgrid(np.linspace(0, 255, w), np.linspace(0, 255, h))
    return Image.fromarray(np.stack([x, y, np.full_like(x, 90)], -1).astype(np.uint8))


@pytest.fixture
def mixed(tmp_path):
    """One face folder as people have them: sizes, modes and formats mixed, nested, with clutter."""
    folder = tmp_path / "faces"
    (folder / "nested" / "deeper").mkdir(parents=True)
    gradient(120, 90).save(folder / "wide.jpg", quality=95)
    gradient(40, 70).save(folder / "nested" / "TALL.JPEG", quality=95)
    gradient(50, 50).save(folder / "nested" / "deeper" / "small.webp", quality=95)
    gradient(33, 33).save(folder / "tiny.bmp")
    Image.new("L", (64, 64), 200).save(folder / "gray.png")
    Image.new("RGBA", (64, 64), (255, 0, 0, 0)).save(folder / "transparent.png")  # fully transparent red
    Image.new("LA", (64, 64), (0, 255)).save(folder / "gray_alpha.png")  # opaque black
    palette = Image.new("P", (64, 64), 0)
    palette.putpalette([0, 0, 255] + [0] * 765)
    palette.save(folder / "palette_transparent.png", transparency=0)  # blue, but index 0 is transparent
    Image.fromarray(np.full((64, 64), 65535, np.uint16)).save(folder / "white16.png")
    Image.fromarray(np.full((64, 64), 32896, np.uint16)).save(folder / "mid16.png")  # 32896 / 257 = 128
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.jpg").write_bytes(b"macOS resource fork")
    return folder


def by_name(data):
    return dict(zip(data.files, data.images))


def test_mixed_sizes_modes_and_formats_all_come_out_square_rgb(mixed):
    data = folders.read(mixed, image_size=32, verbose=False)
    assert data.images.shape == (10, 32, 32, 3) and data.images.dtype == np.uint8 and data.skipped == []
    assert "nested/TALL.JPEG" in data.files and "nested/deeper/small.webp" in data.files
    assert "notes.txt" not in data.files and ".hidden.jpg" not in data.files
    img = by_name(data)
    assert (img["gray.png"] == 200).all()
    assert (img["transparent.png"] == 255).all()  # composited on white, not red
    assert (img["palette_transparent.png"] == 255).all()
    assert (img["gray_alpha.png"] == 0).all()
    assert (img["white16.png"] == 255).all() and (img["mid16.png"] == 128).all()  # scaled, not clipped
    wide = img["wide.jpg"].astype(int)  # central square of a 120x90 gradient: red spans its middle
    assert 25 < wide[16, 0, 0] < 45 and 210 < wide[16, 31, 0] < 235 and wide[0, 16, 1] < 15  # squashed: ~2, ~253


def test_large_jpegs_decode_at_reduced_scale_without_losing_quality(tmp_path):
    path = tmp_path / "big.jpg"
    gradient(1600, 1200).save(path, quality=95)
    fast = imagefiles.decode(path, 64)
    with Image.open(path) as img:  # the plain way: full decode, crop, Lanczos
        exact = np.asarray(img.convert("RGB").resize((64, 64), Image.LANCZOS, box=(200, 0, 1400, 1200)))
    assert np.abs(fast.astype(int) - exact).mean() < 1.5


def test_corrupt_files_are_skipped_and_counted(mixed):
    (mixed / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (mixed / "nested" / "empty.png").write_bytes(b"")
    with pytest.warns(UserWarning, match="Skipped 2 unreadable image file\\(s\\) of 12 in .*broken.jpg"):
        data = folders.read(mixed, image_size=16, verbose=False)
    assert len(data) == 10 and sorted(s[0] for s in data.skipped) == ["broken.jpg", "nested/empty.png"]


def test_a_folder_without_images_names_the_folder_and_extensions(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GanLabError, match=f"No images in {empty}.*\\.jpg \\.jpeg \\.png \\.webp \\.bmp"):
        folders.read(empty)
    (empty / "readme.txt").write_text("faces go here")
    with pytest.raises(GanLabError, match="No images in"):
        folders.load(empty)
    with pytest.raises(GanLabError, match="does not exist"):
        folders.read(tmp_path / "nowhere")


def test_a_folder_of_only_broken_images_is_an_error(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"nope")
    with pytest.warns(UserWarning), pytest.raises(GanLabError, match="None of the 1 image files.*a.jpg"):
        folders.read(tmp_path, verbose=False)


def test_load_gives_seeded_batches_in_unit_range(mixed):
    batches = [b.numpy() for b in folders.load(mixed, image_size=32, batch_size=4, seed=2, verbose=False)]
    again = [b.numpy() for b in folders.load(mixed, image_size=32, batch_size=4, seed=2, verbose=False)]
    assert [len(b) for b in batches] == [4, 4, 2] and batches[0].shape == (4, 32, 32, 3)
    assert batches[0].dtype == np.float32
    assert all(b.min() >= -1.0 and b.max() <= 1.0 for b in batches)
    assert all((a == b).all() for a, b in zip(batches, again))
    ordered = list(folders.load(mixed, image_size=32, batch_size=None, shuffle=False, verbose=False))
    assert len(ordered) == 10 and ordered[0].shape == (32, 32, 3)


def as_uint8(batches):
    """Batches of [-1, 1] float images back to the uint8 images they were made from."""
    return np.rint((np.concatenate(batches) + 1.0) * 127.5).astype(np.uint8)


@pytest.mark.parametrize("shuffle", [True, False])
def test_load_yields_every_image_unless_told_to_drop_the_short_batch(mixed, shuffle):
    expected = sorted(map(bytes, folders.read(mixed, image_size=32, verbose=False).images))
    assert len(expected) == 10
    batches = [b.numpy() for b in folders.load(mixed, image_size=32, batch_size=4, shuffle=shuffle, verbose=False)]
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(map(bytes, as_uint8(batches))) == expected  # each file once (two are all white)
    dropped = [b.numpy() for b in folders.load(mixed, image_size=32, batch_size=4, shuffle=shuffle,
                                               drop_remainder=True, verbose=False)]
    assert [len(b) for b in dropped] == [4, 4]
    rest = list(expected)
    for image in map(bytes, as_uint8(dropped)):
        rest.remove(image)  # raises if an image is not one of the folder's, or comes twice
    assert len(rest) == 2


def test_fewer_images_than_a_batch_still_give_one_batch_when_dropping(mixed):
    batches = list(folders.load(mixed, image_size=32, batch_size=64, drop_remainder=True, verbose=False))
    assert [len(b) for b in batches] == [10]


def test_the_cache_is_reused_until_a_file_changes(mixed, monkeypatch):
    calls = []
    real = imagefiles.decode
    monkeypatch.setattr(imagefiles, "decode", lambda *a: calls.append(a[0]) or real(*a))
    first = folders.read(mixed, image_size=16, verbose=False)
    assert len(calls) == 10
    assert (folders.read(mixed, image_size=16, verbose=False).images == first.images).all() and len(calls) == 10
    folders.read(mixed, image_size=24, verbose=False)  # another size is another cache entry
    assert len(calls) == 20
    gradient(64, 64).save(mixed / "gray.png")
    changed = folders.read(mixed, image_size=16, verbose=False)
    assert len(calls) == 30 and not (by_name(changed)["gray.png"] == 200).all()
