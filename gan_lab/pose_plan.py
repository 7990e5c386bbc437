"""The pose and expression grid of one face, planned: which angles and expressions, the latent steps
behind them (through the calibration curves shipped with the directions), and the latents of every image.
No TensorFlow: the people grid renders from it in processes that only run OpenVINO (`gan_lab.scale`).
`gan_lab.identity_grid` renders and measures the grid of one saved face."""

import numpy as np

from gan_lab.errors import GanLabError

EXPRESSIONS = {"neutral": None, "smile": "Smiling", "open_mouth": "Mouth_Slightly_Open"}


def angles(limit, step) -> np.ndarray:
    """-limit..limit in `step`s, always through 0 (e.g. 60, 5 -> 25 angles)."""
    if step <= 0 or limit < 0:
        raise GanLabError(f"Need limit >= 0 and step > 0 degrees; got limit {limit}, step {step}.")
    half = np.arange(0, limit + 1e-9, step)
    return np.unique(np.concatenate([-half, half])) + 0.0  # + 0.0: no -0 in file names


def angle_to_step(angle, calibration) -> tuple:
    """(latent step, reachable) for a pose change in degrees, by inverting the calibration curve
    (made monotone first; beyond its ends the step is clipped to the step that turns the most)."""
    steps = np.asarray(calibration["steps"], np.float64)
    change = np.asarray(calibration["change"], np.float64)
    # Far out a turn may saturate and fall back (-40 degrees at step -7, -38 at -8): keep the curve between
    # its extremes, so that an angle beyond reach gets the step of the extreme, not the largest step tried.
    low, high = int(np.argmin(change)), int(np.argmax(change))
    if low < high:
        steps, change = steps[low:high + 1], change[low:high + 1]
    change = np.maximum.accumulate(change)
    if change[-1] - change[0] < 1e-6:
        raise GanLabError("This pose direction does not move the measured pose at all; recalibrate it.")
    reachable = bool(change[0] - 1e-6 <= angle <= change[-1] + 1e-6)
    keep = np.concatenate([[True], np.diff(change) > 1e-9])  # np.interp needs increasing x
    return float(np.interp(angle, change[keep], steps[keep])), reachable


def drawable(directions, expressions=tuple(EXPRESSIONS)) -> list:
    """The expressions these directions can draw: neutral always, the others only when notebook 08
    shipped their direction (a direction below its success target is not shipped)."""
    return [e for e in expressions if e in EXPRESSIONS and (EXPRESSIONS[e] is None or EXPRESSIONS[e] in directions.names)]


def plan(directions, yaw=60.0, step=5.0, pitch=(0.0,), expressions=("neutral",)) -> list:
    """One row per image: requested angles and expression, and the latent steps behind them."""
    calibration = directions.info.get("calibration", {})
    for key in ("yaw", "pitch"):
        if key not in directions.names or key not in calibration:
            raise GanLabError(f"The directions have no calibrated {key!r} direction; build them with "
                              "editing.pose_directions + editing.calibrate (notebook 08).")
    unknown = [e for e in expressions if e not in EXPRESSIONS]
    if unknown:
        raise GanLabError(f"Unknown expression(s) {unknown}; choose from {', '.join(EXPRESSIONS)}.")
    steps = directions.info.get("steps", {})
    rows = []
    for expression in expressions:
        name = EXPRESSIONS[expression]
        if name is not None and name not in directions.names:
            raise GanLabError(f"Expression {expression!r} needs a {name!r} direction, which these directions lack.")
        for p in pitch:
            p_step, p_ok = angle_to_step(p, calibration["pitch"])
            for y in angles(yaw, step):
                y_step, y_ok = angle_to_step(y, calibration["yaw"])
                rows.append({"yaw": float(y), "yaw_step": round(y_step, 4), "pitch": float(p),
                             "pitch_step": round(p_step, 4), "reachable": y_ok and p_ok, "expression": expression,
                             "expression_step": float(steps.get(name, 0.0)) if name else 0.0})
    return rows


def latents(face, directions, rows, hold=None, sample=None) -> np.ndarray:
    """The latents of the planned images: the face's own latent moved along yaw, pitch and the
    expression direction, each kept orthogonal to the face's locked directions; with `hold`
    (an `editing.Hold`), each move is walked so the locked attributes stay as the face has them.
    `sample`: the generator's `sample_latents` (a style-based model's points of W)."""
    base = face.latent(directions, hold, sample)[0]
    out = []
    for row in rows:
        z = base + row["yaw_step"] * directions.locked("yaw", face.locks) \
            + row["pitch_step"] * directions.locked("pitch", face.locks)
        if row["expression_step"]:
            z = z + row["expression_step"] * directions.locked(EXPRESSIONS[row["expression"]], face.locks)
        out.append(z)
    out = np.asarray(out, np.float32)
    if hold is not None and face.locks:
        out = hold(np.repeat(base[None], len(out), axis=0), out, face.locks)
    return out
