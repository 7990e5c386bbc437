"""Loading a .keras file safely, and reading what a model takes and returns."""

from pathlib import Path

import keras
import numpy as np

from gan_lab.errors import GanLabError
from gan_lab.models import blocks, mnist, stylegan  # noqa: F401  (register their layers for loading)


def load_keras(path):
    """Load a .keras model with safe_mode; say plainly when safe_mode refuses it."""
    path = Path(path)
    if not path.exists():
        raise GanLabError(f"{path} does not exist.")
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as err:
        if "safe_mode" in str(err) or "Lambda" in str(err):
            raise GanLabError(f"{path} contains a Lambda layer (arbitrary Python code), which gan_lab refuses "
                              "to load (safe_mode=True). Rebuild the model with standard layers.") from err
        raise GanLabError(f"{path} is not a loadable Keras model ({err}).") from err
    except Exception as err:
        raise GanLabError(f"{path} is not a loadable Keras model ({err}).") from err


def input_specs(model, name="model") -> list:
    """[(name, shape, dtype)] of a model's inputs. Functional and Sequential models declare
    them; a subclassed model is read from the shape it was built with (float inputs)."""
    if getattr(model, "inputs", None):
        return [(t.name.split(":")[0], tuple(t.shape), np.dtype(keras.backend.standardize_dtype(t.dtype)))
                for t in model.inputs]
    built = getattr(model, "_build_shapes_dict", None) or {}
    if not built:
        raise GanLabError(f"{name} has no known input shape; call it once on a batch before converting.")
    return [(key.removesuffix("_shape"), tuple(shape), np.dtype("float32")) for key, shape in built.items()]


def outputs_of(model, specs) -> list:
    """[(name, shape)] of the outputs, from one forward pass on zeros when the model does not say."""
    if getattr(model, "outputs", None):
        return [(f"output_{i}", tuple(t.shape)) for i, t in enumerate(model.outputs)]
    probe = [np.zeros((1, *[d or 8 for d in shape[1:]]), dtype) for _, shape, dtype in specs]
    out = model(probe if len(probe) > 1 else probe[0], training=False)
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [(f"output_{i}", (None, *o.shape[1:])) for i, o in enumerate(outs)]


def generator_signature(model, name="model") -> tuple:
    """(latent_dim, image_shape) of a single-latent generator, or a GanLabError."""
    specs = input_specs(model, name)
    outputs = outputs_of(model, specs)
    if len(specs) != 1 or len(outputs) != 1 or len(specs[0][1]) != 2 or specs[0][1][1] is None:
        raise GanLabError(f"{name} takes inputs {[s for _, s, _ in specs]} and has {len(outputs)} output(s): not a "
                          "single-latent generator (one latent vector (n, d) in, one image out).")
    return int(specs[0][1][1]), tuple(int(d) for d in outputs[0][1][1:])
