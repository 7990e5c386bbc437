"""The face service on a local Ray Serve (2 CPUs, 127.0.0.1 only) with three shipped models: a
class-conditional generator, the style-based one (W, recipes) and the CycleGAN translator."""

import json
import threading

import numpy as np
import pytest

from gan_lab import cluster, images, latent, recipe
from gan_lab.client import Client, decode_npy, decode_png, load_test
from gan_lab.errors import GanLabError
from gan_lab.paths import shipped
from gan_lab.runtime import load_generator, load_translator
from gan_lab.runtime.style import editable

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]
MODELS = ("mnist-conditional", "faces-stylegan", "faces-cyclegan")


@pytest.fixture(scope="module")
def service(ray_local, free_port):
    from gan_lab import serve

    # a long wait, so that requests sent together are batched together on a busy test machine
    url = serve.start([shipped(m) for m in MODELS], port=free_port,
                      limits=serve.Limits(max_images=16, max_batch=32, wait_ms=200))
    yield url
    serve.stop()


@pytest.fixture(scope="module")
def client(service):
    return Client(service)


def post(client, path, body: bytes, kind="application/json"):
    status, _, data = client.request("POST", path, body, kind)
    return status, (json.loads(data).get("error", "") if status != 200 else data)


def test_health_names_every_model(client):
    assert client.health() == {"status": "ok", "models": {"mnist-conditional": "generator",
                                                         "faces-stylegan": "generator", "faces-cyclegan": "translator"}}
    info = client.describe("faces-stylegan")
    assert info["space"] == "w" and info["latent_dim"] == 128 and info["image_shape"] == [64, 64, 3]


def test_a_seed_gives_the_faces_openvino_gives_in_process(client):
    local = editable(shipped("faces-stylegan"))
    faces = client.generate("faces-stylegan", seed=5, n=3, truncation=0.7)
    assert faces.shape == (3, 64, 64, 3) and faces.dtype == np.uint8
    expected = local.generate(latent.truncate(local.sample_latents(3, 5), 0.7))
    assert np.abs(faces.astype(int) - expected).max() <= 2  # OpenVINO threads differ: rounding only


def test_json_and_npy_answers_hold_the_same_pixels(client):
    """npy (one raw uint8 array, read without unpickling) and json (base64 PNGs) carry the same faces;
    requests of both formats batched together each get their own."""
    as_npy = client.generate("faces-stylegan", seed=8, n=3, format="npy")
    as_json = client.generate("faces-stylegan", seed=8, n=3, format="json")
    assert as_npy.dtype == np.uint8 and as_npy.shape == (3, 64, 64, 3) and np.array_equal(as_npy, as_json)
    status, data = post(client, "/models/faces-stylegan/generate", b'{"seed": 8, "n": 3, "format": "npy"}')
    assert status == 200 and data[:6] == b"\x93NUMPY" and np.array_equal(decode_npy(data), as_npy)
    status, message = post(client, "/models/faces-stylegan/generate", b'{"n": 2, "format": "pickle"}')
    assert status == 422 and "'npy'" in message
    with pytest.raises(GanLabError, match="'npy' or 'json'"):
        client.generate("faces-stylegan", format="pickle")


def test_one_image_comes_back_as_png(client):
    status, data = post(client, "/models/faces-stylegan/generate", b'{"seed": 2}')
    assert status == 200 and data[:8] == b"\x89PNG\r\n\x1a\n" and decode_png(data).shape == (64, 64, 3)


def test_explicit_latents_and_labels_of_the_conditional_model(client):
    z = latent.sample(4, 100, seed=3)
    digits = client.generate("mnist-conditional", latent=z, labels=[7, 7, 1, 0])
    expected = load_generator(shipped("mnist-conditional") / "generator.xml").generate(z, np.array([7, 7, 1, 0]))
    assert digits.shape == (4, 28, 28, 1) and np.abs(digits.astype(int) - expected).max() <= 2
    assert np.array_equal(client.generate("mnist-conditional", latent=z, labels=[7, 7, 1, 0], format="json"), digits)


def test_a_recipe_from_the_explorer_renders_that_face(client):
    local = editable(shipped("faces-stylegan"))
    directions = latent.Directions.load(shipped("faces-stylegan") / "directions.json")
    face = recipe.Recipe(model="faces-stylegan", latent_dim=local.latent_dim, seed=11, truncation=0.8,
                         sliders={"Male": 1.5}, space="w")  # a direction it ships
    got = client.generate("faces-stylegan", recipe=face.to_json())
    expected = local.generate(face.latent(directions, sample=local.sample_latents))
    assert np.abs(got.astype(int) - expected).max() <= 2


def test_a_recipe_saved_in_another_space_or_model_is_refused(client):
    face = recipe.Recipe(model="faces-stylegan", latent_dim=128, seed=1, space="z").to_json()
    status, message = post(client, "/models/faces-stylegan/generate", json.dumps({"recipe": face}).encode())
    assert status == 422 and "saved in Z" in message
    other = {**face, "model": "faces-dcgan", "space": "w"}
    status, message = post(client, "/models/faces-stylegan/generate", json.dumps({"recipe": other}).encode())
    assert status == 422 and "/models/faces-dcgan/generate" in message


def test_translation_matches_the_translator_in_process(client):
    person = editable(shipped("faces-stylegan")).generate(editable(shipped("faces-stylegan")).sample_latents(1, 4))[0]
    out = client.translate("faces-cyclegan", person, to="b")
    expected = load_translator(shipped("faces-cyclegan") / "a2b.xml").translate(person[None])[0]
    assert out.shape == (64, 64, 3) and np.abs(out.astype(int) - expected).max() <= 2


@pytest.mark.parametrize("path, body, status, says", [
    ("/models/faces-stylegan/generate", b'{"latent": [[0.5, 0.5, 0.5]]}', 422, "latents of 128 numbers"),
    ("/models/faces-stylegan/generate", b'{"latent": [[NaN' + b', 0.0' * 127 + b']]}', 422, "NaN"),
    ("/models/faces-stylegan/generate", b'{"n": 17}', 413, "1..16"),
    ("/models/faces-stylegan/generate", b'{"truncation": 1.5}', 422, "[0, 1]"),
    ("/models/faces-stylegan/generate", b'{"seed": "x"}', 422, "whole number"),
    ("/models/faces-stylegan/generate", b'{"path": "/etc/passwd"}', 422, "Unknown field"),
    ("/models/faces-stylegan/generate", b'{"labels": [1]}', 422, "not class-conditional"),
    ("/models/mnist-conditional/generate", b'{"n": 2}', 422, "is class-conditional"),
    ("/models/mnist-conditional/generate", b'{"n": 1, "labels": [12]}', 422, "0..9"),
    ("/models/no-such-model/generate", b'{}', 404, "faces-cyclegan, faces-stylegan, mnist-conditional"),
    ("/models/faces-cyclegan/generate", b'{}', 404, "translator"),
    ("/models/faces-stylegan/generate", b'seed=1', 400, "not JSON"),
    ("/models/faces-stylegan/generate", b'[1, 2]', 400, "JSON object"),
    ("/models/faces-cyclegan/translate", b'GIF89a but not really', 400, "not an image"),
    ("/models/faces-cyclegan/translate?to=c", images.png_bytes(np.zeros((8, 8, 3), np.uint8)), 422, "'a' or 'b'"),
])
def test_bad_requests_get_a_4xx_with_a_message_and_the_service_stays_up(client, path, body, status, says):
    got, message = post(client, path, body, "application/octet-stream" if "translate" in path else "application/json")
    assert (got, says in message) == (status, True), message
    assert client.health()["status"] == "ok"


def test_requests_sent_together_are_batched(client):
    def one(k):
        Client(client.url).generate("faces-stylegan", seed=100 + k, n=2)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(client.describe("faces-stylegan")["batches"]) > 2  # two requests or more in one inference


def test_the_load_generator_counts_every_request(service):
    figures = load_test(service, "faces-stylegan", seconds=1.5, clients=2)
    assert figures["failed"] == 0 and figures["requests"] >= 2
    assert figures["p50_ms"] <= figures["p95_ms"] <= figures["max_ms"]


def test_nothing_listens_beyond_the_loopback_address(service):
    found = cluster.listening(cluster.ray_processes())
    assert found, "no Ray process found listening"
    assert [f for f in found if not cluster.is_loopback(f[0])] == []


def test_the_client_names_a_service_that_is_not_there():
    with pytest.raises(GanLabError, match="Is the service running"):
        Client("http://127.0.0.1:9").health()


def test_a_folder_without_a_converted_model_is_refused_before_ray_starts(tmp_path):
    from gan_lab import serve

    with pytest.raises(GanLabError, match="convert the model first"):
        serve.applications([tmp_path])
