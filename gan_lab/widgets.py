"""The latent explorer: make a face, edit it with one slider per named direction, lock the
attributes you want kept, switch backends and devices, save the face and load it back; the digit
and translator pickers; `device_widget`, the one device dropdown of every notebook. ipywidgets only.

    explorer = LatentExplorer.from_folder("models/faces-dcgan")
    explorer            # in a notebook: shows it

Everything the buttons do is also a method or attribute (`.sliders`, `.locks`, `.image`,
`.save`, `.load`, `.render`), so scripts and tests work it without a browser.
"""

import time
from pathlib import Path

import ipywidgets as W
import numpy as np
from IPython.display import display

from gan_lab import backends, latent, paths, recipe, runtime, translator
from gan_lab.editing import Hold
from gan_lab.errors import GanLabError
from gan_lab.images import png_bytes, save_png
from gan_lab.modelfolder import ModelFolder
from gan_lab.runtime.openvino_runner import available_devices
from gan_lab.runtime.style import editable, space_of


def device_widget(value="CPU", description="device") -> W.Dropdown:
    """OpenVINO's devices on this machine and AUTO (which picks among them), as one dropdown:
    what openvino_notebooks keep in their utils, used by every notebook and widget here."""
    options = available_devices()
    return W.Dropdown(options=options, value=value if value in options else options[0], description=description,
                      tooltip="OpenVINO device (Keras and ONNX Runtime run on the CPU)")


def _model_name(folder) -> str:
    """A shipped model by its name (portable across checkouts), any other by its absolute path."""
    folder = Path(folder).resolve()
    try:
        shipped = paths.models_dir().resolve()
    except GanLabError:  # no shipped models configured: every model is named by its path
        shipped = None
    return folder.name if folder.parent == shipped else str(folder)


class LatentExplorer:
    """Sliders over a generator's latent space. `generator`: a `runtime.Generator`, or for a
    style-based model a `runtime.style.WGenerator` (edits in W, truncation up to 1); its model
    folder supplies the other backends. `directions`: `latent.Directions` or a path to them;
    `hold`: an `editing.Hold` to keep locked attributes in place as the classifier reads them
    (without one, locks project the free directions off the locked ones, which holds only their
    linear scores); `limit`: slider range in latent units; `zoom`: enlargement on screen."""

    def __init__(self, generator, directions, seed=0, truncation=1.0, limit=6.0, zoom=4, hold=None):
        if isinstance(directions, (str, Path)):
            directions = latent.Directions.load(directions)
        if directions.latent_dim != generator.latent_dim:
            raise GanLabError(f"The directions are {directions.latent_dim}-d but {generator.path} takes "
                              f"{generator.latent_dim}-d latents; load the directions shipped with that model.")
        self.directions, self.zoom, self.hold = directions, zoom, hold
        self.folder, self.space = generator.path.parent, space_of(generator)
        self._generators = {generator.label: generator}
        self.timings = []  # seconds per render (generate + encode + display), for the latency figure
        self._quiet = False
        self._build_widgets(seed, truncation, limit, generator.label)
        self.render()

    @classmethod
    def from_folder(cls, folder, backend="OpenVINO", hold=True, **options) -> "LatentExplorer":
        """The explorer on a shipped model folder, with the directions saved beside it; `hold`:
        hold locks through the model's Keras network and the shipped face classifier (in Z, or in W
        for a style-based model)."""
        folder = Path(folder)
        generator = editable(folder, backend)
        held = Hold.for_model(folder) if hold else None
        return cls(generator, folder / "directions.json", hold=held, **options)

    # ----------------------------------------------------------------- widgets

    def _build_widgets(self, seed, truncation, limit, backend):
        self.seed = W.IntText(value=seed, description="seed", layout=W.Layout(width="160px"))
        self.random_button = W.Button(description="random face", icon="random")
        top = 1.0 if self.space == "w" else 1.5  # in W, psi > 1 would leave the mapped space
        self.truncation = W.FloatSlider(value=truncation, min=0.0, max=top, step=0.05,
                                        description="truncation" + (" (W)" if self.space == "w" else ""),
                                        continuous_update=True)
        self.reset_button = W.Button(description="reset", icon="undo")
        available = [b.label for b in ModelFolder(self.folder).backends("synthesis" if self.space == "w" else "generator")]
        self.backend = W.Dropdown(options=available, value=backend, description="backend")
        first = next(iter(self._generators.values()))
        self.device = device_widget(getattr(getattr(first, "runner", None), "device", "CPU"))
        self.status = W.HTML()
        side = f"{self.zoom * self._size()}px"  # a fixed box: the picture must not jump as the text changes
        self.image_widget = W.Image(format="png", layout=W.Layout(width=side, height=side))
        self.image_widget.add_class("gan-lab-face")
        self.sliders, self.locks = {}, {}
        for name in self.directions.names:
            slider = W.FloatSlider(value=0.0, min=-limit, max=limit, step=0.1, description=name,
                                   continuous_update=True, style={"description_width": "150px"},
                                   layout=W.Layout(width="420px"))
            slider.add_class("gan-lab-attribute")
            self.sliders[name] = slider
            self.locks[name] = W.ToggleButton(value=False, description="lock", icon="lock",
                                              tooltip=f"keep {name} fixed while other sliders move",
                                              layout=W.Layout(width="80px"))
        self.save_path = W.Text(value="faces/face.json", description="file")
        self.save_button, self.load_button = W.Button(description="Save", icon="save"), W.Button(description="Load")
        for widget in [self.seed, self.truncation, self.backend, self.device, *self.sliders.values(), *self.locks.values()]:
            widget.observe(self._changed, names="value")
        self.random_button.on_click(lambda _: self.set(seed=int(np.random.default_rng().integers(2**31))))
        self.reset_button.on_click(lambda _: self.reset())
        self.save_button.on_click(lambda _: self._report(self.save, self.save_path.value))
        self.load_button.on_click(lambda _: self._report(self.load, self.save_path.value))

    def _ipython_display_(self):
        display(self.widget)

    @property
    def widget(self) -> W.Widget:
        rows = [W.HBox([self.sliders[n], self.locks[n]]) for n in self.directions.names]
        controls = W.VBox([W.HBox([self.seed, self.random_button, self.reset_button]), self.truncation,
                           W.HBox([self.backend, self.device]), *rows, W.HBox([self.save_path, self.save_button, self.load_button])])
        return W.VBox([W.HBox([W.VBox([self.image_widget, self.status]), controls])])

    def _size(self) -> int:
        return next(iter(self._generators.values())).image_shape[0]

    # ----------------------------------------------------------------- state

    @property
    def recipe(self) -> recipe.Recipe:
        """The current face as a recipe (what Save writes)."""
        return recipe.Recipe(model=_model_name(self.folder), latent_dim=self.directions.latent_dim,
                             seed=int(self.seed.value), truncation=float(self.truncation.value),
                             sliders={n: float(s.value) for n, s in self.sliders.items()},
                             locks=[n for n, t in self.locks.items() if t.value], space=self.space)

    @property
    def generator(self) -> runtime.Generator:
        name, device = self.backend.value, self.device.value
        self.device.disabled = backends.named(name).name != "openvino"  # Keras and ONNX Runtime run on the CPU
        key = name if self.device.disabled or device == "CPU" else f"{name} on {device}"
        if key not in self._generators:  # opened on first use: each backend (and device) compiles its model once
            self._generators[key] = editable(self.folder, name, "CPU" if self.device.disabled else device)
        return self._generators[key]

    def latent(self) -> np.ndarray:
        return self.recipe.latent(self.directions, self.hold, self.generator.sample_latents)

    def render(self) -> np.ndarray:
        """Generate the current face and show it; returns the uint8 image."""
        start = time.perf_counter()
        self.image = self.generator.generate(self.latent())[0]
        model_ms = (time.perf_counter() - start) * 1e3
        self.image_widget.value = png_bytes(self.image, self.zoom)
        self.timings.append(time.perf_counter() - start)
        locked = ", ".join(n for n, t in self.locks.items() if t.value) or "none"
        where = self.backend.value if self.device.disabled else f"{self.backend.value} on {self.device.value}"
        self.status.value = (f"<small>{where}: {self.timings[-1] * 1e3:.1f} ms "
                             f"(model {model_ms:.1f} ms) · locked: {locked}</small>")
        return self.image

    def _changed(self, _change):
        for name, toggle in self.locks.items():  # a locked slider does not move
            self.sliders[name].disabled = toggle.value
        if not self._quiet:
            self.render()

    def set(self, seed=None, truncation=None, sliders=None, locks=None, backend=None):
        """Change several controls and render once."""
        self._quiet = True
        try:
            if backend is not None:
                self.backend.value = backend
            if seed is not None:
                self.seed.value = int(seed)
            if truncation is not None:
                self.truncation.value = float(truncation)
            for name, value in (sliders or {}).items():
                self.sliders[name].value = float(value)
            if locks is not None:
                for name, toggle in self.locks.items():
                    toggle.value = name in locks
        finally:
            self._quiet = False
        self._changed(None)

    def time_slider(self, name, values, backend=None) -> dict:
        """Move slider `name` through `values` (on `backend`, if given) as a user would, and time
        every re-render (generate, PNG, widget): {"median ms", "p95 ms", "renders"}."""
        if backend is not None:
            self.backend.value = backend
        self.timings.clear()
        for value in values:
            self.sliders[name].value = float(value)
        ms = np.array(self.timings) * 1e3
        return {"median ms": float(np.median(ms)), "p95 ms": float(np.percentile(ms, 95)), "renders": len(ms)}

    def reset(self):
        """All sliders to zero and all locks off (seed, truncation and backend stay)."""
        self.set(sliders={n: 0.0 for n in self.sliders}, locks=[])

    def _report(self, action, path):
        try:
            self.status.value = f"<small>{action.__name__}: {action(path)}</small>"
        except (GanLabError, OSError) as err:
            self.status.value = f"<small style='color:#b00'>{err}</small>"

    # ----------------------------------------------------------------- files

    def save(self, path) -> Path:
        """Write PATH (.json recipe) and the PNG beside it (same name, .png)."""
        path = Path(path).with_suffix(".json")
        save_png(self.image, path.with_suffix(".png"))
        return self.recipe.save(path)

    def load(self, path) -> Path:
        """Re-render the face saved in PATH (refused if it is from another model or names
        directions this explorer does not have)."""
        face = recipe.Recipe.load(path)
        face.check_space(self.space, f"this explorer ({self.folder.name})")
        if face.latent_dim != self.directions.latent_dim:
            raise GanLabError(f"{path} is a face of a {face.latent_dim}-d model ({face.model}); this explorer "
                              f"shows {self.folder} ({self.directions.latent_dim}-d).")
        unknown = sorted(set(face.sliders) - set(self.sliders)) + sorted(set(face.locks) - set(self.sliders))
        if unknown:
            raise GanLabError(f"{path} moves or locks {unknown}, which are not among this explorer's directions "
                              f"({', '.join(self.sliders)}).")
        self.set(seed=face.seed, truncation=face.truncation, locks=face.locks,
                  sliders={n: face.sliders.get(n, 0.0) for n in self.sliders})
        return Path(path)


class DigitPicker:
    """Ask a class-conditional generator for a digit: a dropdown of the classes and a seed slider;
    `count` samples of the chosen class, drawn through whatever backend `generator` runs on."""

    def __init__(self, generator, count=8, seed=0, zoom=3):
        if not getattr(generator, "conditional", False):
            raise GanLabError(f"{generator.path.name} is not class-conditional; the digit picker needs a generator "
                              "that takes (z, label), e.g. models/mnist-conditional.")
        self.generator, self.count, self.zoom = generator, count, zoom
        classes = generator.num_classes or 10
        self.digit = W.Dropdown(options=list(range(classes)), value=0, description="digit")
        self.seed = W.IntSlider(value=seed, min=0, max=999, description="seed", continuous_update=True)
        self.device = device_widget(generator.runner.device)
        self.device.disabled = generator.backend != "openvino"
        self.image_widget, self.status = W.Image(format="png"), W.HTML()
        for widget in (self.digit, self.seed):
            widget.observe(lambda _: self.render(), names="value")
        self.device.observe(lambda _: self._move(), names="value")
        self.render()

    @property
    def widget(self) -> W.Widget:
        return W.VBox([W.HBox([self.digit, self.seed, self.device]), self.image_widget, self.status])

    def _move(self):
        """The same IR compiled for the chosen device."""
        self.generator = runtime.load_generator(self.generator.path, self.device.value)
        self.render()

    def _ipython_display_(self):
        display(self.widget)

    def render(self) -> np.ndarray:
        """Draw `count` samples of the chosen digit; returns them as uint8 (count, H, W, C)."""
        start = time.perf_counter()
        z = self.generator.sample_latents(self.count, int(self.seed.value))
        self.images = self.generator.generate(z, np.full(self.count, int(self.digit.value)))
        row = np.concatenate(list(self.images), axis=1)
        self.image_widget.value = png_bytes(row, self.zoom)
        self.status.value = (f"<small>{self.generator.label}: {(time.perf_counter() - start) * 1e3:.1f} ms for "
                             f"{self.count} digits</small>")
        return self.images


class TranslatorPicker:
    """Pick a held-out person and a direction of a CycleGAN folder: the input, its translation, the round
    trip back and the true same person in the other domain, side by side, through `backend`."""

    def __init__(self, folder, backend="openvino", people=50, zoom=3, device="CPU"):
        self.folder = Path(folder)
        size = int(ModelFolder(self.folder).info.get("image_shape", [64])[0])
        self.truth = translator.heldout(translator.attribute_of(self.folder), people, size)
        self.suffix, self.zoom = backends.named(backend).suffix, zoom
        self.person = W.IntSlider(value=0, min=0, max=people - 1, description="person")
        self.direction = W.ToggleButtons(options=["A → B", "B → A"], description="direction")
        self.device = device_widget(device)
        self.device.disabled = backends.named(backend).name != "openvino"
        self.image_widget, self.status = W.Image(format="png"), W.HTML()
        for widget in (self.person, self.direction):
            widget.observe(lambda _: self.render(), names="value")
        self.device.observe(lambda _: self._open(), names="value")
        self._open()

    @property
    def widget(self) -> W.Widget:
        return W.VBox([W.HBox([self.direction, self.person, self.device]), self.image_widget, self.status])

    def _open(self):
        """Both directions' networks on the chosen device, then the picture again."""
        device = "CPU" if self.device.disabled else self.device.value
        self.nets = {stem: runtime.load_translator(self.folder / f"{stem}{self.suffix}", device)
                     for stem in translator.STEMS}
        self.render()

    def _ipython_display_(self):
        display(self.widget)

    def render(self) -> np.ndarray:
        """The four faces of the current choice as uint8 (4, s, s, 3): input, translated, back, truth."""
        i, forward = int(self.person.value), self.direction.value == "A → B"
        source, target = ("a", "b") if forward else ("b", "a")
        there, back = (self.nets["a2b"], self.nets["b2a"]) if forward else (self.nets["b2a"], self.nets["a2b"])
        start = time.perf_counter()
        translated = there.translate(self.truth[source][i:i + 1])
        ms = (time.perf_counter() - start) * 1e3
        self.images = np.concatenate([self.truth[source][i:i + 1], translated, back.translate(translated),
                                      self.truth[target][i:i + 1]])
        self.image_widget.value = png_bytes(np.concatenate(list(self.images), axis=1), self.zoom)
        self.status.value = (f"<small>input · translated · translated back · the true person in domain "
                             f"{target.upper()} — {there.label}: {ms:.1f} ms</small>")
        return self.images
