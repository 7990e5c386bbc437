"""Calling the face service (`gan_lab.serve`) from Python, and a bounded load generator to measure it.
Standard library only: a client machine needs neither Ray nor OpenVINO.

    client = Client("http://127.0.0.1:8000")
    faces = client.generate("faces-stylegan", seed=3, n=4)     # uint8 (4, 64, 64, 3)
    other = client.translate("faces-cyclegan", faces[0], to="b")
    figures = load_test("http://127.0.0.1:8000", "faces-stylegan", seconds=60, clients=8)
"""

import base64
import http.client
import io
import json
import threading
import time
from urllib.parse import urlsplit

import numpy as np

from gan_lab import images
from gan_lab.errors import GanLabError


def decode_png(data: bytes) -> np.ndarray:
    return images.read_png(io.BytesIO(data))


def decode_npy(data: bytes) -> np.ndarray:
    """The service's .npy answer (format "npy"): a uint8 array, read without unpickling."""
    return np.load(io.BytesIO(data), allow_pickle=False)


class Client:
    """One keep-alive HTTP connection to the service (use one Client per thread)."""

    def __init__(self, url="http://127.0.0.1:8000", timeout=120):
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise GanLabError(f"Expected the service's URL as http://HOST:PORT; got {url!r}.")
        self.url, self.host, self.port, self.timeout = url, parts.hostname, parts.port or 80, timeout
        self.connection = None

    def request(self, method, path, body=None, content_type="application/json") -> tuple:
        """(status, content type, body bytes); reconnects once if the kept-alive connection was closed."""
        for attempt in (0, 1):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.connection.request(method, path, body=body, headers={"Content-Type": content_type} if body else {})
                response = self.connection.getresponse()
                return response.status, response.getheader("Content-Type", ""), response.read()
            except (ConnectionError, http.client.HTTPException) as err:
                self.connection.close()
                self.connection = None
                if attempt:
                    raise GanLabError(f"No answer from {self.url}{path}: {err}. Is the service running "
                                      "(gan-lab serve MODEL_DIR)?") from err
            except OSError as err:
                self.connection = None
                raise GanLabError(f"Cannot reach {self.url}: {err}. Is the service running (gan-lab serve MODEL_DIR)?") from err

    def call(self, method, path, body=None, content_type="application/json") -> tuple:
        status, kind, data = self.request(method, path, body, content_type)
        if status != 200:
            try:
                message = json.loads(data)["error"]
            except (ValueError, KeyError, TypeError):
                message = data[:200].decode("utf-8", "replace")
            raise GanLabError(f"{self.url}{path} answered {status}: {message}")
        return kind, data

    def health(self) -> dict:
        return json.loads(self.call("GET", "/health")[1])

    def describe(self, model) -> dict:
        return json.loads(self.call("GET", f"/models/{model}/")[1])

    def generate_body(self, model, body: dict) -> tuple:
        return self.call("POST", f"/models/{model}/generate", json.dumps(body).encode())

    def generate(self, model, seed=0, n=1, latent=None, labels=None, truncation=1.0, recipe=None,
                 format="npy") -> np.ndarray:
        """uint8 images (n, H, W, C): from a seed, explicit latents, or a recipe saved by the explorer.
        `format`: how they travel, "npy" (one raw array: the fastest) or "json" (base64 PNGs); the same pixels."""
        if recipe is not None:
            body = {"recipe": recipe}
        else:
            body = {"seed": seed, "n": n, "truncation": truncation} if latent is None else \
                   {"latent": np.asarray(latent, np.float64).tolist(), "truncation": truncation}
            if labels is not None:
                body["labels"] = np.asarray(labels).tolist()
        if format not in ("npy", "json"):
            raise GanLabError(f"format is 'npy' or 'json'; got {format!r}.")
        _, data = self.generate_body(model, {**body, "format": format})
        if format == "npy":
            return decode_npy(data)
        answer = json.loads(data)  # PNGs drop a grey image's channel axis: the shape puts it back, as npy has it
        return np.stack([decode_png(base64.b64decode(p)) for p in answer["images"]]).reshape(answer["shape"])

    def translate(self, model, picture, to="b") -> np.ndarray:
        """A uint8 image (H, W, 3), or an image file's bytes -> the other domain, uint8."""
        data = picture if isinstance(picture, bytes) else images.png_bytes(np.asarray(picture, np.uint8))
        _, out = self.call("POST", f"/models/{model}/translate?to={to}", data, "application/octet-stream")
        return decode_png(out)


def load_test(url, model, seconds=60.0, clients=8, images=1, seed=0, format=None) -> dict:
    """`clients` threads, each sending generate requests of `images` faces back to back for `seconds`
    (every request a new seed), then: requests, failed, images/s, p50/p95/max latency in ms.
    `format`: the answer's, "png" (one image), "json" or "npy"; None: png for one image, else json."""
    format = format or ("png" if images == 1 else "json")
    latencies, failures, lock = [], [], threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client_loop(k):
        client, i = Client(url), 0
        while time.perf_counter() < stop_at:
            body = {"seed": seed + k * 10_000_000 + i, "n": images, "format": format}
            start = time.perf_counter()
            try:
                client.generate_body(model, body)
                with lock:
                    latencies.append(time.perf_counter() - start)
            except GanLabError as err:
                with lock:
                    failures.append(str(err))
            i += 1

    began = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    ms = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    return {"clients": clients, "images_per_request": images, "format": format, "seconds": round(elapsed, 2),
            "requests": len(latencies), "failed": len(failures), "first_failure": failures[0] if failures else None,
            "images_per_s": len(latencies) * images / elapsed, "requests_per_s": len(latencies) / elapsed,
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)), "max_ms": float(ms.max())}
