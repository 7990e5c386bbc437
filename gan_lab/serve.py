"""A face-generation service on Ray Serve, with gan_lab's OpenVINO runner inside.

    url = serve.start(["models/faces-stylegan", "models/faces-cyclegan"], port=8000)
    client = gan_lab.client.Client(url)
    faces = client.generate("faces-stylegan", seed=3, n=4)       # uint8 (4, 64, 64, 3)
    serve.stop()

Routes (`gan-lab serve MODEL_DIR ...` starts the same service from a shell):

    GET  /health                         {"status": "ok", "models": {name: kind}}
    GET  /models/NAME/                   what the model takes; a replica's batch sizes and totals
    POST /models/NAME/generate           JSON: seed, n, latent, labels, truncation, recipe, format -> PNG,
                                         {"images": [base64 PNG, ...], ...} or .npy (uint8 (n, H, W, C))
    POST /models/NAME/translate?to=b     an image file's bytes -> PNG (a CycleGAN folder)

Each model folder is its own Serve application under /models/NAME (one deployment, so a request goes
from Serve's proxy straight to a replica of its model); the catalog at / answers /health and names the
models for an unknown one. Each replica opens the IR once and runs the requests that arrive together
as one batch (`@serve.batch`, up to `max_batch` images or `wait_ms`). A request names
a model by name, never a path, and is read as JSON or as image bytes, never unpickled. Bad requests get
a 4xx and a message; the service stays up.
"""

import asyncio
import base64
import collections
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from ray import serve

from gan_lab import cluster, images, latent, modelfolder
from gan_lab.data.imagefiles import decode
from gan_lab.errors import GanLabError
from gan_lab.recipe import Recipe
from gan_lab.runtime import cpu_share, load_translator
from gan_lab.runtime.style import editable, space_of

FIELDS = ("seed", "n", "latent", "labels", "truncation", "recipe", "format")
FORMATS = ("png", "json", "npy")
NPY = "application/x-npy"
APP = "gan_lab"


@dataclass(frozen=True)
class Limits:
    """What one request may ask and how replicas batch."""

    max_images: int = 64  # images in one request
    max_batch: int = 256  # images in one inference (requests are batched up to it)
    wait_ms: float = 5.0  # how long a replica waits for more requests to fill a batch
    max_upload_mb: float = 8.0  # an image sent to translate

    def __post_init__(self):
        if not 1 <= self.max_images <= self.max_batch:
            raise GanLabError(f"Need 1 <= max_images <= max_batch; got {self.max_images} and {self.max_batch}.")
        if self.wait_ms < 0 or self.max_upload_mb <= 0:
            raise GanLabError(f"wait_ms must be >= 0 and max_upload_mb > 0; got {self.wait_ms}, {self.max_upload_mb}.")


class RequestError(GanLabError):
    """A request the service refuses, with its HTTP status."""

    def __init__(self, message, status=422):
        super().__init__(message)
        self.status = status


def refusal(err: RequestError) -> dict:
    return {"status": err.status, "error": str(err)}


def whole(value, name, low=0, high=None) -> int:
    """A JSON whole number in [low, high], or a 422 naming the field."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{name!r} must be a whole number; got {value!r}.")
    if value < low or (high is not None and value > high):
        status = 413 if name == "n" and high is not None and value > high else 422
        raise RequestError(f"{name!r} must be in {low}..{high if high is not None else 'any'}; got {value}."
                           + (" Ask for fewer images per request, or send several requests." if status == 413 else ""),
                           status)
    return value


def kind_of(folder) -> str:
    """'generator' or 'translator' for a converted model folder, or a GanLabError saying what is missing."""
    folder = Path(folder)
    if (folder / "generator.xml").exists():
        return "generator"
    if (folder / "a2b.xml").exists() and (folder / "b2a.xml").exists():
        return "translator"
    raise GanLabError(f"{folder} holds no OpenVINO generator.xml (nor a2b.xml and b2a.xml): convert the model "
                      f"first (gan-lab convert MODEL.keras --out {folder}).")


class Generation:
    """One generator folder in one replica: a request -> checked latents -> batched OpenVINO -> PNGs."""

    def __init__(self, folder, limits: Limits, threads=None):
        cluster.keep_serve_on_loopback()
        self.folder, self.limits = Path(folder), limits
        config = cpu_share(threads)
        self.model = editable(self.folder, "openvino", config=config)  # W for a style-based model
        self.space, self.style = space_of(self.model), getattr(self.model, "style", None)
        self.z_dim = self.style.latent_dim if self.style else self.model.latent_dim
        found = self.folder / "directions.json"
        self.directions = latent.Directions.load(found) if found.exists() else None
        self.render.set_max_batch_size(limits.max_batch)
        self.render.set_batch_wait_timeout_s(limits.wait_ms / 1000)
        self.batches = collections.deque(maxlen=1000)  # images per inference, the latest ones
        self.totals = {"inferences": 0, "images": 0}  # since the replica started

    def describe(self) -> dict:
        conditional = bool(getattr(self.model, "conditional", False))
        return {"kind": "generator", "latent_dim": self.z_dim, "space": self.space,
                "image_shape": list(self.model.image_shape), "conditional": conditional,
                "num_classes": self.model.num_classes if conditional else None,
                "directions": list(self.directions.names) if self.directions else [],
                "limits": vars(self.limits), "batches": list(self.batches), **self.totals}

    def request(self, body) -> tuple:
        """(latents in the space the model renders, labels or None, format) of a generate request."""
        unknown = sorted(set(body) - set(FIELDS))
        if unknown:
            raise RequestError(f"Unknown field(s) {unknown}; a generate request takes {', '.join(FIELDS)}.")
        if "recipe" in body:
            if set(body) - {"recipe", "format"}:
                raise RequestError("A recipe carries its own seed, truncation and sliders: send it alone (with "
                                   "'format' if you like).")
            x, n = self.from_recipe(body["recipe"]), 1
        else:
            x = self.from_latent(body["latent"]) if "latent" in body else None
            n = len(x) if x is not None else whole(body.get("n", 1), "n", 1, self.limits.max_images)
            if x is not None and "n" in body and whole(body["n"], "n", 1) != n:
                raise RequestError(f"'n' ({body['n']}) differs from the number of latents sent ({n}).")
            if x is None:
                x = self.model.sample_latents(n, whole(body.get("seed", 0), "seed", 0, 2**63 - 1))
            x = latent.truncate(x, self.truncation(body.get("truncation", 1.0)))
        fmt = body.get("format", "png" if n == 1 else "json")
        if fmt not in FORMATS or (fmt == "png" and n > 1):
            raise RequestError(f"'format' is 'json' (base64 PNGs), 'npy' (one uint8 array), or 'png' for a request "
                               f"of one image; got {fmt!r} for {n}.")
        return x, self.labels(body.get("labels"), n), fmt

    def truncation(self, psi) -> float:
        if isinstance(psi, bool) or not isinstance(psi, (int, float)):
            raise RequestError(f"'truncation' must be a number in [0, 1]; got {psi!r}.")
        latent.check_psi(psi)
        return float(psi)

    def from_latent(self, value) -> np.ndarray:
        """Latents z (n, latent_dim) as the generator takes them; for a style-based model, their points of W."""
        try:
            z = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise RequestError("'latent' must be a list of numbers, or a list of such lists (one per image).") from None
        z = z[None] if z.ndim == 1 else z
        if z.ndim != 2 or z.shape[1] != self.z_dim or len(z) == 0:
            raise RequestError(f"{self.folder.name} takes latents of {self.z_dim} numbers each; got shape {z.shape}.")
        if len(z) > self.limits.max_images:
            raise RequestError(f"{len(z)} latents in one request; at most {self.limits.max_images}.", 413)
        if not np.isfinite(z).all():
            raise RequestError("'latent' contains NaN or infinite values; send finite numbers (draw them from N(0, 1)).")
        z = z.astype(np.float32)
        return self.model.to_u(self.style.map(z)) if self.style else z

    def from_recipe(self, data) -> np.ndarray:
        face = Recipe.from_json(data, "the recipe")
        if Path(face.model).name != self.folder.name:
            raise RequestError(f"This face was saved from {Path(face.model).name!r}; send it to "
                               f"/models/{Path(face.model).name}/generate.")
        face.check_space(self.space, f"the service's {self.folder.name}")
        if self.directions is None:
            raise RequestError(f"{self.folder.name} has no directions.json, which a recipe's sliders need.")
        return face.latent(self.directions, sample=self.model.sample_latents)

    def labels(self, value, n):
        """The request's class labels as the generator checks them (a style-based model takes none)."""
        if value is not None and not all(isinstance(v, int) and not isinstance(v, bool)
                                         for v in np.ravel(np.asarray(value, dtype=object))):
            raise RequestError(f"'labels' must be whole numbers; got {value!r}.")
        labels = None if value is None else np.asarray(value, dtype=np.int64)
        if not hasattr(self.model, "check_labels") and labels is not None:
            raise RequestError(f"{self.folder.name} is not class-conditional: send no 'labels'.")
        return self.model.check_labels(labels, n) if hasattr(self.model, "check_labels") else None

    async def generate(self, body) -> dict:
        """{"status": 200, "format", "shape", "pngs" or "array"} or {"status": 4xx, "error"}; never raises for a
        bad request."""
        try:
            x, labels, fmt = self.request(body)
        except RequestError as err:
            return refusal(err)
        except GanLabError as err:
            return refusal(RequestError(str(err)))
        out = await self.render((x, labels, fmt))
        return {"status": 200, "format": fmt, "shape": [len(x), *self.model.image_shape],
                "array" if fmt == "npy" else "pngs": out}

    @serve.batch(max_batch_size=256, batch_wait_timeout_s=0.005, batch_size_fn=lambda items: sum(len(i[0]) for i in items))
    async def render(self, items) -> list:
        """Requests that arrived together -> one OpenVINO inference -> each request's PNGs (or array, for npy)."""
        x = np.concatenate([i[0] for i in items])
        labels = np.concatenate([i[1] for i in items]) if items[0][1] is not None else None

        def run():  # in a thread: the event loop keeps taking requests (the next batch) meanwhile
            pictures = self.model.generate(x, labels) if labels is not None else self.model.generate(x)
            ends = np.cumsum([len(i[0]) for i in items])
            parts = [pictures[end - len(i[0]):end] for i, end in zip(items, ends)]
            return [part if i[2] == "npy" else [images.png_bytes(p) for p in part] for i, part in zip(items, parts)]

        out = await asyncio.to_thread(run)
        self.batches.append(len(x))
        self.totals["inferences"] += 1
        self.totals["images"] += len(x)
        return out


class Translation:
    """A CycleGAN folder in one replica: image bytes -> the other domain, as PNG."""

    def __init__(self, folder, limits: Limits, threads=None):
        cluster.keep_serve_on_loopback()
        self.folder, self.limits = Path(folder), limits
        config = cpu_share(threads)
        self.nets = {"b": load_translator(self.folder / "a2b.xml", config=config),
                     "a": load_translator(self.folder / "b2a.xml", config=config)}
        self.size = int(self.nets["b"].image_shape[0])

    def describe(self) -> dict:
        return {"kind": "translator", "image_shape": [self.size, self.size, 3], "to": sorted(self.nets),
                "domains": modelfolder.read_info(self.folder).get("domains", {}), "limits": vars(self.limits)}

    async def translate(self, data: bytes, to: str) -> dict:
        if to not in self.nets:
            return refusal(RequestError(f"'to' must be 'a' or 'b' (the target domain); got {to!r}."))
        try:
            picture = decode(io.BytesIO(data), self.size)
        except Exception as err:  # PIL raises several kinds for bytes that are not an image it reads
            return refusal(RequestError(f"The body is not an image file this service reads (JPEG, PNG, WebP, BMP): "
                                        f"{type(err).__name__}: {err}", 400))
        out = await asyncio.to_thread(self.nets[to].translate, picture[None])
        return {"status": 200, "format": "png", "shape": list(out.shape), "pngs": [images.png_bytes(out[0])]}


def npy_bytes(array) -> bytes:
    """A uint8 array as .npy bytes (no pickle in the format; read back with allow_pickle=False)."""
    out = io.BytesIO()
    np.save(out, np.ascontiguousarray(array), allow_pickle=False)
    return out.getvalue()


async def read_json(request) -> dict:
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RequestError(f"The body is not JSON ({err}); send a JSON object such as {{\"seed\": 0}}.", 400) from None
    if not isinstance(body, dict):
        raise RequestError(f"The body must be a JSON object such as {{\"seed\": 0}}; got {type(body).__name__}.", 400)
    return body


def error(err: RequestError):
    return JSONResponse({"error": str(err)}, status_code=err.status)


def respond(result: dict):
    if result["status"] != 200:
        return JSONResponse({"error": result["error"]}, status_code=result["status"])
    if result["format"] == "png":
        return Response(result["pngs"][0], media_type="image/png")
    if result["format"] == "npy":
        return Response(npy_bytes(result["array"]), media_type=NPY)
    return {"shape": result["shape"], "images": [base64.b64encode(p).decode("ascii") for p in result["pngs"]]}


ROUTES = "GET /health, GET /models/NAME/, POST /models/NAME/generate, POST /models/NAME/translate?to=a|b"
model_api = FastAPI(title="gan_lab model", description="One model folder, through OpenVINO.")
catalog_api = FastAPI(title="gan_lab", description="What the service holds.")


# Serve pickles a class when it is decorated: everything its methods call is defined above it.
@serve.deployment
@serve.ingress(model_api)
class ModelServer:
    """One model folder as its own Serve application under /models/NAME: HTTP in, the worker, HTTP out."""

    def __init__(self, folder, limits: Limits, threads=None):
        self.kind, self.name, self.limits = kind_of(folder), Path(folder).name, limits
        self.worker = (Generation if self.kind == "generator" else Translation)(folder, limits, threads)

    def refuse_unless(self, kind):
        if self.kind != kind:
            raise RequestError(f"{self.name} is a {self.kind}; it does not {kind[:-2]}e. The routes: {ROUTES}.", 404)

    @model_api.get("/")
    async def describe(self):
        return self.worker.describe()

    @model_api.post("/generate")
    async def generate(self, request: Request):
        try:
            self.refuse_unless("generator")
            body = await read_json(request)
        except RequestError as err:
            return error(err)
        return respond(await self.worker.generate(body))

    @model_api.post("/translate")
    async def translate(self, request: Request, to: str = "b"):
        try:
            self.refuse_unless("translator")
            data = await request.body()
            if len(data) > self.limits.max_upload_mb * 1e6:
                raise RequestError(f"The image is {len(data) / 1e6:.1f} MB; at most {self.limits.max_upload_mb} MB.", 413)
        except RequestError as err:
            return error(err)
        return respond(await self.worker.translate(data, to))


@serve.deployment(ray_actor_options={"num_cpus": 0})
@serve.ingress(catalog_api)
class Catalog:
    """The root application: /health, and a 404 that names the models for any other path (Serve sends a
    request to the application with the longest matching prefix, so unknown models land here)."""

    def __init__(self, kinds: dict):
        cluster.keep_serve_on_loopback()
        self.kinds = kinds

    @catalog_api.get("/health")
    async def health(self):
        return {"status": "ok", "models": self.kinds}

    @catalog_api.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def unknown(self, path: str):
        parts = path.split("/")
        if len(parts) >= 2 and parts[0] == "models" and parts[1] not in self.kinds:
            return error(RequestError(f"Unknown model {parts[1]!r}; this service has {', '.join(sorted(self.kinds))}.", 404))
        return error(RequestError(f"No route /{path}; the routes: {ROUTES}.", 404))


def applications(folders, replicas=1, limits=None, threads=None) -> dict:
    """{route prefix: Serve application}: one per model folder (its deployment named after it), and the
    catalog at /. `threads`: OpenVINO threads per replica (default: the cores shared among the replicas)."""
    folders = [Path(f) for f in folders]
    names = [f.name for f in folders]
    if len(set(names)) != len(names):
        raise GanLabError(f"Two model folders share a name ({names}); the service routes by folder name.")
    limits = limits or Limits()
    kinds = {f.name: kind_of(f) for f in folders}
    cores = os.cpu_count() or 1
    threads = threads or max(1, cores // replicas)
    cpus = min(1.0, cores / (replicas * len(folders)))  # every replica fits on this machine
    # max_ongoing_requests: enough requests in a replica at once to fill a batch (Serve's default is 5)
    apps = {f"/models/{f.name}": ModelServer.options(name=f.name, num_replicas=replicas,
                                                     max_ongoing_requests=2 * limits.max_batch,
                                                     ray_actor_options={"num_cpus": cpus})
            .bind(str(f.resolve()), limits, threads) for f in folders}
    return {**apps, "/": Catalog.bind(kinds)}


def start(folders, replicas=1, port=8000, host="127.0.0.1", limits=None, threads=None, address=None) -> str:
    """Start Ray (local, or `address`'s cluster) and the service; returns its URL once every replica is up."""
    apps = applications(folders, replicas, limits, threads)  # bad folders are refused before Ray starts
    cluster.init(address=address)
    serve.start(http_options={"host": host, "port": int(port)})
    serve.run_many([serve.RunTarget(app, name=APP if prefix == "/" else prefix.rsplit("/", 1)[1], route_prefix=prefix,
                                    logging_config={"log_level": "WARNING"}) for prefix, app in apps.items()])
    return f"http://{host}:{port}"


def stop():
    """Stop the service (and Serve); Ray itself keeps running until `cluster.shutdown()`."""
    serve.shutdown()
