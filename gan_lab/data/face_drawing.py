"""Drawing the procedural faces: parameters in, anti-aliased RGB pictures and landmarks out.

Drawing is vectorised over a batch of faces. Each part is a signed field on the pixel grid
(negative inside, in image units), turned into an anti-aliased mask one pixel wide and
alpha-blended. Facial features live on the head's surface: a pixel's frontal position is found
by undoing the yaw and pitch of a sphere, so eyes, mouth and beard slide sideways and
foreshorten as the head turns; the nose and ears stick out of that surface.

Pose convention: positive yaw turns the face toward the image's right (the nose moves right);
positive pitch tilts it up (features move up). Landmarks are pixel (x, y), pixel centres at
integers; "lefteye" is the eye on the image's left, as in CelebA.
"""

import copy

import numpy as np
from scipy.ndimage import gaussian_filter

LANDMARKS = ("lefteye", "righteye", "nose", "leftmouth", "rightmouth")
YOUNG_BELOW = 36.0  # years; older faces get wrinkles, so Young is visible

def _halfwidth(y, a, power, taper):
    """Half-width of the head at height y (-1 crown, 0 eyes, 1 chin): round skull, squarer or tapered jaw."""
    ay = np.minimum(np.abs(y), 1)
    pw = np.where(y > 0, power, 2)
    return a * np.maximum(1 - ay ** pw, 0) ** (1 / pw) * (1 - taper * np.clip(y, 0, 1) ** 2)


def _frame(p, shape=(-1,)) -> dict:
    """Per-face head placement and pose, reshaped to broadcast (`(-1, 1, 1)` against a pixel grid)."""
    f = {k: np.asarray(p[k], np.float32).reshape(shape) for k in
         ("head_w", "head_aspect", "center_x", "center_y", "scale", "jaw_power", "jaw_taper", "yaw", "pitch")}
    a, pitch = f["head_w"] * f["scale"], np.radians(f["pitch"])
    b = a * f["head_aspect"]
    # A tilted face is foreshortened below the eyes (the chin rises toward them), and its features
    # slide over the head a little less than points on a sphere would.
    b_low = b * (1 - 0.3 * np.maximum(np.sin(pitch), 0) - 0.12 * np.maximum(-np.sin(pitch), 0))
    return {"a": a, "b": b, "b_low": b_low, "cx": f["center_x"], "cy": f["center_y"],
            "yaw": np.radians(f["yaw"]), "pitch": pitch, "tilt": 0.8 * pitch,
            "power": f["jaw_power"], "taper": f["jaw_taper"]}


def _jaw_x(h, yn):
    """Centre of the head's row at height yn: the jaw swings a little toward where the face turns."""
    return h["cx"] + 0.1 * h["a"] * np.sin(h["yaw"]) * np.clip(yn, 0, 1)


def _to_image(h, px, py):
    """Frontal face position -> image (u, v) under the head's yaw and pitch."""
    hw = lambda y: _halfwidth(y, h["a"], h["power"], h["taper"])  # noqa: E731
    y = np.clip(py / h["b"], -1, 1)
    yn = np.sin(np.arcsin(y) - h["tilt"])
    xs = np.sin(np.arcsin(np.clip(px / np.maximum(hw(y), 1e-6), -1, 1)) + h["yaw"])
    return _jaw_x(h, yn) + xs * hw(yn), h["cy"] + yn * np.where(yn > 0, h["b_low"], h["b"])


_FEATURE_KEYS = ("smile", "mouth_open", "mouth_w", "eye_gap", "pointy_nose", "big_nose")


def _features(g, h) -> dict:
    """Where the eyes, nose and mouth sit on a frontal face (image units), shared by drawing and landmarks."""
    a, b = h["a"], h["b"]
    smile, gap_open = g["smile"], g["mouth_open"]
    mw = g["mouth_w"] * a * (1 + 0.14 * smile)
    return {
        "ex": g["eye_gap"] * a, "ey": -0.03 * b,
        "nose_depth": 0.24 + 0.1 * g["pointy_nose"], "nose_y": (0.30 + 0.04 * g["big_nose"]) * b,
        "mw": mw, "my": 0.58 * b,
        "lift": (0.085 * smile - 0.012 * (1 - smile)) * b,  # corners up when smiling
        "gap": gap_open * (0.06 + 0.04 * smile) * b,  # open mouth height at the centre
    }


def landmarks(p, size) -> np.ndarray:
    """Pixel (x, y) of LANDMARKS for each face, float32 (n, 5, 2)."""
    h = _frame(p)
    g = {k: np.asarray(p[k], np.float32) for k in _FEATURE_KEYS}
    f = _features(g, h)
    nose_x = f["nose_depth"] * h["a"] * np.sin(h["yaw"])
    nose_y = f["nose_y"] - f["nose_depth"] * h["b"] * np.sin(h["pitch"])
    corner_y = f["my"] - f["lift"]
    points = [(-f["ex"], f["ey"]), (f["ex"], f["ey"]), (nose_x, nose_y), (-f["mw"], corner_y), (f["mw"], corner_y)]
    uv = np.stack([np.stack(_to_image(h, *np.broadcast_arrays(x, y)), -1) for x, y in points], 1)
    return np.clip((uv + 1) * size / 2 - 0.5, 0, size - 1).astype(np.float32)


# ----------------------------------------------------------------------------- drawing helpers

def _cover(d, pixel):
    """Anti-aliased coverage of d < 0 (d a signed distance), ramping over one pixel of size `pixel`."""
    return np.clip(0.5 - d / pixel, 0, 1)


def _cover_field(f):
    """Coverage of f < 0 for any field: its own gradient across the grid sets the one-pixel ramp.

    The ramp applies only where the sign flips between neighbouring pixels: a field built with
    min, max or where can jump without crossing zero, and that jump must not leave a seam."""
    gy, gx = np.gradient(f, axis=(1, 2))
    ramp = np.clip(0.5 - f / (np.sqrt(gx * gx + gy * gy) + 1e-9), 0, 1)
    inside = f < 0
    edge = np.zeros(inside.shape, bool)
    for axis in (1, 2):
        flip = np.diff(inside, axis=axis)
        edge[(slice(None),) * axis + (slice(1, None),)] |= flip
        edge[(slice(None),) * axis + (slice(None, -1),)] |= flip
    return np.where(edge, ramp, inside.astype(np.float32))


def _ellipse(x, y, rx, ry):
    """Approximate signed distance to the ellipse (x/rx)^2 + (y/ry)^2 = 1 (first order, exact near the edge)."""
    qx, qy = x / rx, y / ry
    r = np.sqrt(qx * qx + qy * qy) + 1e-9
    return (r - 1) * r / (np.sqrt((qx / rx) ** 2 + (qy / ry) ** 2) + 1e-9)


def _blob(x, y, rx, ry):
    """A soft spot, 1 at its centre, near exp(-(x/rx)^2 - (y/ry)^2) but exactly 0 beyond twice the radii:
    a part drawn on a band of rows must not reach outside it (else a face would depend on its batch)."""
    return np.maximum(1 - ((x / rx) ** 2 + (y / ry) ** 2) / 4, 0) ** 3


class _Scene:
    """One batch being drawn: the pixel grid, per-face parameters shaped to broadcast, the picture."""

    def __init__(self, p, size):
        self.p, self.size = p, size
        self.pix = np.float32(2 / size)
        t = ((np.arange(size) + 0.5) * (2 / size) - 1).astype(np.float32)
        self.u, self.v = t[None, None, :], t[None, :, None]
        index = np.arange(size, dtype=np.uint32)
        self.ix, self.iy = index[None, None, :], index[None, :, None]
        self.h = _frame(p, (-1, 1, 1))
        self.feat = _features({k: self.f(k) for k in _FEATURE_KEYS}, self.h)
        self._surface()
        self.hair = np.zeros_like(self.head)  # hair coverage, once drawn

    def f(self, key):
        """A per-face number (booleans as 0/1), shaped (n, 1, 1)."""
        return np.asarray(self.p[key], np.float32).reshape(-1, 1, 1)

    def rgb(self, key):
        """A per-face colour, shaped (n, 1, 1, 3)."""
        return np.asarray(self.p[key], np.float32).reshape(-1, 1, 1, 3)

    def paint(self, alpha, color):
        self.img += alpha[..., None] * (color - self.img)

    def tint(self, alpha, factor):
        """Multiply the picture by `factor` (a number or colour) where alpha is 1: shadows, highlights."""
        factor = np.asarray(factor, np.float32)
        if factor.ndim == 3:  # one number per face
            factor = factor[..., None]
        self.img *= 1 + alpha[..., None] * (factor - 1)

    def _surface(self):
        """Each pixel's frontal face position (px, py), how much it faces us, and the head's coverage."""
        h = self.h
        dv = self.v - h["cy"]
        yn = np.clip(dv / np.where(dv > 0, h["b_low"], h["b"]), -1.5, 1.5)
        ync = np.clip(yn, -1, 1)
        width = _halfwidth(ync, h["a"], h["power"], h["taper"])
        x = self.u - _jaw_x(h, ync)
        self.head = _cover_field(np.maximum(np.abs(x) - width, (np.abs(yn) - 1) * h["b"]))
        self.xs = np.clip(x / np.maximum(width, 1e-4), -1, 1)
        phi = np.arcsin(self.xs) - h["yaw"]
        y = np.sin(np.arcsin(ync) + h["tilt"])
        self.sin_phi, self.front, self.yn = np.sin(phi), np.cos(phi), ync
        self.px = self.sin_phi * _halfwidth(y, h["a"], h["power"], h["taper"])
        self.py = np.broadcast_to(y * h["b"], self.px.shape)
        self.ax = np.abs(self.px)
        # A screen pixel covers more of the face where it is foreshortened: widen the ramps there.
        gy, gx = np.gradient(self.px, axis=(1, 2))
        dy = np.abs(np.gradient(y * h["b"], axis=1))
        self.sp = np.clip(np.maximum(np.sqrt(gx * gx + gy * gy), dy), 0.7 * self.pix, 4 * self.pix)
        self.face = self.head * np.clip(self.front * 5, 0, 1)

    def on_face(self, d):
        """Coverage of a facial part given as a signed distance in frontal units, clipped to the face."""
        return np.clip(0.5 - d / self.sp, 0, 1) * self.face

    _PIXELS = ("v", "iy", "img", "head", "xs", "sin_phi", "front", "yn", "px", "py", "ax", "sp", "face", "hair")

    def part(self, faces=None, top=None, bottom=None):
        """A cheaper scene for one part: only `faces` (a boolean mask) and only the rows between image
        heights `top` and `bottom` (per-face arrays). Drawing on it draws on this scene once `done`."""
        sub = copy.copy(self)
        sub.index = None if faces is None else np.flatnonzero(np.asarray(faces).reshape(-1))
        pick = slice(None) if sub.index is None else sub.index
        if sub.index is not None:
            sub.p = {k: v[pick] for k, v in self.p.items()}
            sub.h = {k: v[pick] for k, v in self.h.items()}
            sub.feat = {k: v[pick] for k, v in self.feat.items()}
        n = len(self.h["a"])
        lo = -1.0 if top is None else float(np.min(np.broadcast_to(top, (n, 1, 1))[pick], initial=1))
        hi = 1.0 if bottom is None else float(np.max(np.broadcast_to(bottom, (n, 1, 1))[pick], initial=-1))
        sub.rows = slice(int(np.clip(np.floor((lo + 1) / self.pix) - 2, 0, self.size)),
                         int(np.clip(np.ceil((hi + 1) / self.pix) + 2, 0, self.size)))
        for name in self._PIXELS:
            if hasattr(self, name):
                value = getattr(self, name)
                value = value if value.shape[0] == 1 else value[pick]
                setattr(sub, name, value[:, sub.rows])
        return sub

    def done(self, sub):
        """Write back what was drawn on a part made for some of the faces (rows alone are views)."""
        if sub.index is not None:
            self.img[sub.index, sub.rows] = sub.img
            self.hair[sub.index, sub.rows] = sub.hair


# ----------------------------------------------------------------------------- parts, back to front

def _background(s):
    """A two-colour gradient in a random direction, a little darker toward the corners."""
    ang = s.f("bg_angle")
    t = np.clip(0.5 + 0.45 * (s.u * np.cos(ang) + s.v * np.sin(ang)), 0, 1)[..., None]
    ends = np.asarray(s.p["background"], np.float32)[:, None, None]
    s.img = ends[..., 0, :] + t * (ends[..., 1, :] - ends[..., 0, :])
    s.img *= (1 - 0.15 * (s.u ** 2 + s.v ** 2))[..., None]


def _body(s):
    """Neck and shoulders in clothes with a round or V neckline (a small round collar under a tie)."""
    h, v, skin = s.h, s.v, s.rgb("skin")
    nw, dx, v0 = _neck_geometry(s)
    neck = _cover(np.maximum(np.abs(dx) - nw, h["cy"] + 0.3 * h["b"] - v), s.pix)
    below_jaw = np.clip((v - h["cy"] - 0.85 * h["b"]) / (0.3 * h["b"]), 0, 1)  # the chin shades the neck
    s.paint(neck, skin * (0.6 + 0.28 * below_jaw - 0.12 * np.minimum((dx / nw) ** 2, 1))[..., None])
    out = np.maximum(np.abs(dx) - 0.9 * nw, 0)
    body = _cover_field(v0 + 0.05 * out + 0.55 * out * out - v)
    tie, female = s.f("necktie"), 1 - s.f("male")
    depth = 0.22 - 0.1 * tie
    v_hole = np.abs(dx) - 1.3 * nw * (v0 + depth - v) / depth
    round_hole = _ellipse(dx, v - v0 + 0.03, 1.2 * nw, 0.06 + 0.07 * female)
    hole = _cover(np.where(s.f("v_neck") * (1 - tie) > 0, v_hole, round_hole), s.pix)
    shading = 0.7 + 0.3 * np.clip(1 - (dx / 1.3) ** 2, 0, 1) - 0.1 * np.clip((v - v0) * 3, 0, 1)
    s.paint(body * (1 - hole), s.rgb("cloth_color") * shading[..., None])


def _neck_geometry(s):
    """Neck half-width, horizontal offset from its centre, and where the neck meets the shoulders."""
    h = s.h
    nw = h["a"] * (0.38 + 0.07 * s.f("male") + 0.06 * (s.f("face_shape") == 2))
    return nw, s.u - h["cx"] - 0.1 * h["a"] * np.sin(h["yaw"]), h["cy"] + h["b"] + 0.09


def _tie(s):
    """Shirt, collar and tie: a white V inside a dark jacket."""
    nw, dx, v0 = _neck_geometry(s)
    v = s.v
    body = _cover_field(v0 + 0.05 * np.maximum(np.abs(dx) - 0.9 * nw, 0) - v)
    shading = (0.7 + 0.3 * np.clip(1 - (dx / 1.3) ** 2, 0, 1) - 0.1 * np.clip((v - v0) * 3, 0, 1))[..., None]
    collar = _cover(_ellipse(dx, v - v0 + 0.03, 1.2 * nw, 0.06), s.pix)
    shirt = body * _cover(np.abs(dx) - 1.2 * nw * np.clip(v0 + 0.4 - v, 0, 1) / 0.4, s.pix) * (1 - collar)
    s.paint(shirt, np.float32([0.9, 0.91, 0.92]) * shading)
    knot = _cover(_ellipse(dx, v - v0 - 0.035, 0.045, 0.035), s.pix)
    blade = _cover(np.maximum(np.abs(dx) - 0.028 - 0.12 * (v - v0 - 0.06), v0 + 0.06 - v), s.pix)
    s.paint(np.maximum(knot, blade) * shirt, s.rgb("tie_color") * (0.8 + 0.2 * (1 - np.abs(dx) / 0.1))[..., None])


def _necklace(s):
    """A thin arc draped below the throat, with a pendant."""
    nw, dx, v0 = _neck_geometry(s)
    v = s.v
    arc = v0 - 0.02 + 0.09 * (1 - np.minimum((dx / (1.05 * nw)) ** 2, 1))
    chain = _cover(np.maximum(np.abs(v - arc) - 0.012, np.abs(dx) - 1.05 * nw), s.pix)
    pendant = _cover(np.sqrt(dx * dx + (v - v0 - 0.09) ** 2) - 0.022, s.pix)
    s.paint(np.maximum(chain, pendant), s.rgb("metal_color") * (0.75 + 0.25 * np.cos(dx * 20))[..., None])


def _ear_geometry(h) -> list:
    """Per side: centre (u, v), radii, depth toward us (zr) and how much its front faces us.
    Ears stick out of the head's sides a little behind the cheek line and turn with the yaw."""
    yaw, ye = h["yaw"], 0.06
    hw = _halfwidth(np.float32(ye), h["a"], h["power"], h["taper"])
    # Ears sit near the axis of a nod, a little behind it: tilting up lowers them a little.
    vy = h["cy"] + h["b"] * (ye * np.cos(h["pitch"]) + 0.15 * np.sin(h["pitch"]))
    ears = []
    for side in (-1, 1):
        x, z = side * 1.05, -0.15
        xr, zr = x * np.cos(yaw) + z * np.sin(yaw), -x * np.sin(yaw) + z * np.cos(yaw)
        turned = np.clip(-side * 0.9 * np.sin(yaw) + 0.45 * np.cos(yaw), 0, 1)
        ears.append({"side": side, "cx": h["cx"] + hw * xr, "cy": vy, "rx": hw * (0.07 + 0.12 * turned),
                     "ry": 0.22 * h["b"], "zr": zr, "turned": turned})
    return ears


def _ears(s) -> list:
    """Both ears' masks on scene `s`: (ear, inner ear, faces us)."""
    masks = []
    for e in _ear_geometry(s.h):
        x, y, rx, ry = s.u - e["cx"], s.v - e["cy"], e["rx"], e["ry"]
        mask = _cover(_ellipse(x, y, rx, ry), s.pix)
        inner = _cover(_ellipse(x + e["side"] * 0.2 * rx, y + 0.1 * ry, 0.5 * rx, 0.6 * ry), s.pix)
        masks.append((mask, inner * mask * np.clip(2 * e["turned"] - 0.3, 0, 0.7), e["zr"]))
    return masks


def _paint_ears(s, ears, near=None):
    """Ears behind the head first (all of them), then again over it those that face us, on the
    faces in the mask `near` (before the hair when it is long enough to cover them, else after)."""
    for mask, inner, zr in ears:
        w = 1 if near is None else (zr > 0) * np.asarray(near, np.float32).reshape(-1, 1, 1)
        s.paint(mask * w, s.rgb("skin") * 0.9)
        s.tint(inner * w, 0.7)


def _double_chin(s):
    """A soft fold under the jaw, drawn before the head so the chin's edge stays visible."""
    h = s.h
    d = _ellipse(s.u - _jaw_x(h, 1.0), s.v - h["cy"] - 0.97 * h["b_low"], 0.42 * h["a"], 0.13 * h["b"])
    s.paint(_cover(d, s.pix), s.rgb("skin") * 0.72)


def _skin(s):
    """The head: skin lit from above to one side, darker toward its rim."""
    light = s.f("light")
    norm = np.sqrt(light * light + 0.25 + 0.81)
    nx, ny = s.xs * np.sqrt(1 - s.yn ** 2), s.yn
    nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0, 1))
    lam = np.clip((nx * light - 0.5 * ny + 0.9 * nz) / norm, 0, 1)
    age = np.clip((s.f("age") - 30) / 50, 0, 1)
    skin = s.rgb("skin")
    skin = skin + 0.25 * age[..., None] * (skin.mean(-1, keepdims=True) - skin)  # older skin is less saturated
    s.paint(s.head, skin * (0.58 + 0.47 * lam)[..., None])
    # natural warmth on the cheeks and nose
    warm = _blob(s.ax - 0.5 * s.h["a"], s.py - 0.22 * s.h["b"], 0.2 * s.h["a"], 0.15 * s.h["b"])
    s.tint(warm * s.face * 0.5, np.float32([1.02, 0.93, 0.92]))


def _cheeks(s):
    """Blush (Rosy_Cheeks), make-up contour, and cheekbone highlights (High_Cheekbones)."""
    a, b, ax, py = s.h["a"], s.h["b"], s.ax, s.py
    apple = _blob(ax - 0.5 * a, py - 0.2 * b, 0.17 * a, 0.11 * b) * s.face
    s.paint(apple * 0.5 * s.f("rosy"), np.float32([0.93, 0.42, 0.45]) * s.rgb("skin").mean(-1, keepdims=True) * 1.2)
    contour = _blob(ax - 0.62 * a + 0.3 * (py - 0.3 * b), py - 0.3 * b, 0.12 * a, 0.06 * b) * s.face
    s.tint(contour * 0.35 * s.f("makeup"), np.float32([0.82, 0.68, 0.68]))
    high = s.f("cheekbones")
    s.tint(_blob(ax - 0.47 * a, py - 0.13 * b, 0.17 * a, 0.08 * b) * s.face * high, 1.16)
    hollow = _blob(ax - 0.62 * a + 0.5 * (py - 0.38 * b), py - 0.38 * b, 0.07 * a, 0.12 * b)  # slanting under the bone
    s.tint(hollow * s.face * high, 0.86)


def _wrinkles(s):
    """Age: forehead lines, nasolabial folds and crow's feet, only on faces that are not Young."""
    a, b, ax, px, py = s.h["a"], s.h["b"], s.ax, s.px, s.py
    age = s.f("age")
    w = np.where(age >= YOUNG_BELOW, 0.5 + 0.5 * np.clip((age - YOUNG_BELOW) / 35, 0, 1), 0)
    lines = 0
    for y0 in (-0.47, -0.39):
        d = np.maximum(np.abs(py - (y0 * b + 0.04 * b * (px / (0.35 * a)) ** 2)) - 0.012 * a, ax - 0.33 * a)
        lines = np.maximum(lines, s.on_face(d))
    for k in (-1, 1):  # crow's feet fan out from the outer eye corners
        cx, cy = s.feat["ex"] + 0.27 * a, s.feat["ey"] + k * 0.04 * b
        d = np.maximum(np.abs((py - cy) - k * 0.35 * (ax - cx)) - 0.012 * a, np.abs(ax - cx - 0.07 * a) - 0.07 * a)
        lines = np.maximum(lines, s.on_face(d) * 0.7)
    s.tint(lines * w * 0.55, 0.72)


def _folds(s):
    """Nasolabial folds from the nose wings to the mouth corners: deeper with a smile and with age."""
    f, a, b = s.feat, s.h["a"], s.h["b"]
    age = s.f("age")
    x0, y0 = 0.24 * a, f["nose_y"] + 0.02 * b
    x1, y1 = f["mw"] + 0.05 * a, f["my"] - f["lift"] + 0.03 * b
    t = np.clip((s.py - y0) / (y1 - y0), 0, 1)
    x = x0 + (x1 - x0) * t + 0.05 * a * np.sin(np.pi * t)
    d = np.maximum(np.abs(s.ax - x) - 0.015 * a, np.abs(s.py - (y0 + y1) / 2) - (y1 - y0) / 2)
    strength = 0.45 * s.f("smile") + np.where(age >= YOUNG_BELOW, 0.3, 0)
    s.tint(s.on_face(d) * strength * np.sqrt(np.clip(np.sin(np.pi * t), 0, 1)), 0.72)


def _eyes(s):
    """Eye sockets, make-up, whites, irises looking at the camera, pupils, lids, bags under the eyes."""
    f, a, b, ax, px, py = s.feat, s.h["a"], s.h["b"], s.ax, s.px, s.py
    ex, ey, size = f["ex"], f["ey"], s.f("eye_size")
    ew, eh0 = 0.2 * a * size, 0.1 * a * size
    eh = eh0 * (1 - 0.4 * s.f("narrow_eyes")) * (1 - 0.2 * s.f("smile"))
    s.tint(_blob(ax - ex, py - ey + 0.03 * b, 1.8 * ew, 2.6 * eh0) * s.face, 0.87)
    makeup = s.f("makeup")
    lid_zone = _blob(ax - ex - 0.1 * ew, py - ey + 1.7 * eh0, 1.2 * ew, 1.1 * eh0) * s.face
    s.paint(lid_zone * 0.6 * makeup, s.rgb("shadow_color"))
    t = (ax - ex) / ew  # -1 inner corner, 1 outer corner
    env = 1 - np.minimum(t * t, 1)
    up, lo = ey - eh * env * (1 + 0.15 * t), ey + 0.75 * eh * env
    eye = s.on_face(np.maximum(np.maximum(up - py, py - lo), (np.abs(t) - 1) * ew))
    s.paint(eye, np.float32([0.93, 0.91, 0.88]) * (0.8 + 0.2 * env)[..., None])
    gaze = -0.35 * ew * np.sin(s.h["yaw"])  # eyes turn back toward the camera
    ri = 0.72 * eh0
    r = np.sqrt((px - np.sign(px) * ex - gaze) ** 2 + (py - ey) ** 2)
    iris = np.clip(0.5 - (r - ri) / s.sp, 0, 1) * eye
    s.paint(iris, s.rgb("eye_color") * (1.2 - 0.6 * np.clip(r / ri, 0, 1) ** 3)[..., None])
    s.paint(np.clip(0.5 - (r - 0.42 * ri) / s.sp, 0, 1) * eye, np.float32([0.03, 0.03, 0.03]))
    glint = np.sqrt((px - np.sign(px) * ex - gaze - 0.3 * ri) ** 2 + (py - ey + 0.3 * ri) ** 2)
    s.paint(np.clip(0.5 - (glint - 0.2 * ri) / s.sp, 0, 1) * eye * 0.8, np.float32([1, 1, 1]))
    # Upper lid and lashes; eyeliner with make-up, winged at the outer corner.
    lw = (0.045 + 0.03 * makeup) * a
    lid = np.maximum(np.abs(py - up + 0.4 * lw) - lw / 2, (np.abs(t) - 1.05) * ew)
    wing = np.maximum(np.abs(py - ey + 0.8 * eh * (t - 1)) - lw / 3, np.abs(t - 1.15) * ew - 0.15 * ew)
    s.paint(np.maximum(s.on_face(lid), s.on_face(wing) * makeup), np.float32([0.08, 0.05, 0.05]))
    s.tint(s.on_face(np.maximum(np.abs(py - lo - 0.01 * b) - 0.01 * a, (np.abs(t) - 0.9) * ew)) * 0.5, 0.8)
    bag = _blob(ax - ex, py - ey - eh0 * 1.9, 0.8 * ew, 0.7 * eh0) * s.face
    s.tint(bag * s.f("bags"), np.float32([0.75, 0.68, 0.72]))
    fold = np.maximum(np.abs(py - ey - eh0 * (1.2 + 1.2 * env)) - 0.012 * a, (np.abs(t) - 0.8) * ew)
    s.tint(s.on_face(fold) * 0.6 * s.f("bags"), 0.7)


def _brows(s):
    """Eyebrows: thicker and darker when bushy, peaked toward the outer end when arched."""
    f, a, b, ax, py = s.feat, s.h["a"], s.h["b"], s.ax, s.py
    bushy, arched = s.f("brows_bushy"), s.f("brows_arched")
    bw = 0.26 * a
    t = (ax - f["ex"] - 0.03 * a) / bw  # -1 inner end, 1 outer end
    lift = np.where(arched > 0, 0.075 * b * np.exp(-((t - 0.3) / 0.5) ** 2), 0.03 * b * (1 - np.minimum(t * t, 1)))
    centre = f["ey"] - 0.2 * b - lift + 0.02 * b * t
    half = 0.03 * a * (1 + 0.9 * bushy) * (1.15 - 0.4 * (t + 1) / 2) * (1 - 0.2 * arched)
    d = np.maximum(np.abs(py - centre) - half, (np.abs(t) - 1) * bw)
    color = s.rgb("hair_color") * 0.62 + 0.02
    s.paint(s.on_face(d) * (0.8 + 0.15 * bushy), color)


def _nose(s):
    """The nose sticks out: its parts shift sideways with yaw and up with pitch, more toward the tip."""
    f, a, b, px, py = s.feat, s.h["a"], s.h["b"], s.px, s.py
    big, pointy = s.f("big_nose"), s.f("pointy_nose")
    depth, ny, top = f["nose_depth"], f["nose_y"], f["ey"]
    nw = 0.19 * a * (1 + 0.4 * big) * (1 - 0.15 * pointy)
    along = np.clip((py - top) / (ny - top), 0, 1)
    qx = px - depth * a * np.sin(s.h["yaw"]) * along
    qy = py + depth * b * np.sin(s.h["pitch"]) * along
    yaw = s.h["yaw"]
    side = np.where(np.abs(yaw) > 0.14, np.sign(yaw), -np.sign(s.f("light") + 1e-3))  # the side in shadow
    ridge = nw * (0.3 + 0.45 * along)
    shade = _blob(qx - side * ridge, 0, 0.05 * a + 0.03 * a * along, 1) * np.clip(along * 3 - 0.3, 0, 1)
    s.tint(shade * (qy < ny + 0.02 * b) * s.face, 0.78 - 0.15 * np.abs(np.sin(yaw)))
    s.tint(_blob(qx, qy - (ny + top) / 2, 0.05 * a * (1 - 0.3 * pointy), (ny - top) / 2) * s.face, 1.07 + 0.05 * pointy)
    s.tint(_blob(qx, qy - ny + 0.03 * b, 0.3 * nw * (1 - 0.3 * pointy), 0.05 * b) * s.face, 1.1)
    ax = np.abs(qx)
    s.tint(_blob(ax - 0.8 * nw, qy - ny + 0.005 * b, 0.22 * nw, 0.05 * b) * s.face, 0.8)  # the wings
    nostril = _ellipse(ax - 0.4 * nw, qy - ny - 0.045 * b, 0.2 * nw, 0.025 * b)
    s.paint(s.on_face(nostril) * 0.8, s.rgb("skin") * 0.35)
    s.tint(_blob(qx, qy - ny - 0.1 * b, 0.7 * nw, 0.04 * b) * s.face, 0.88)  # shadow under the nose


def _mouth(s):
    """Lips whose corners rise with a smile; an open mouth shows a dark inside and teeth."""
    f, a, b, px, py = s.feat, s.h["a"], s.h["b"], s.px, s.py
    mw, lift, gap = f["mw"], f["lift"], f["gap"]
    t = px / mw
    env = np.clip(1 - t * t, 0, 1)  # 1 in the middle of the mouth, 0 at its corners
    mid = f["my"] - lift * (1 - env)
    top, bot = mid - 0.3 * gap * env, mid + 0.7 * gap * env
    lip = (0.045 + 0.025 * s.f("big_lips")) * b
    bow = 1 - 0.35 * np.exp(-(t / 0.2) ** 2)  # Cupid's bow
    ends = (np.abs(t) - 1) * mw
    upper = np.maximum(np.maximum(py - top, top - 0.85 * lip * np.sqrt(env) * bow - py), ends)
    lower = np.maximum(np.maximum(bot - py, py - bot - 1.15 * lip * np.sqrt(env)), ends)
    natural = s.rgb("skin") * np.float32([0.86, 0.6, 0.6])
    color = np.where(s.f("lipstick")[..., None] > 0, s.rgb("lip_color"), natural)
    s.tint(_blob(px, py - bot - 1.6 * lip, 0.5 * mw, 0.6 * lip) * s.face, 0.88)  # shadow under the lower lip
    s.paint(s.on_face(upper), color * 0.85)
    s.paint(s.on_face(lower), color * 1.02)
    inside = np.maximum(np.maximum(top - py, py - bot), ends)
    s.paint(s.on_face(inside), np.float32([0.25, 0.07, 0.07]))
    teeth = np.maximum(np.maximum(inside, py - top - 0.55 * gap), (np.abs(t) - 0.8) * mw)
    s.paint(s.on_face(teeth) * (gap > 0), np.float32([0.93, 0.9, 0.84]))
    line = np.maximum(np.abs(py - mid) - 0.012 * a, ends)
    s.paint(s.on_face(line) * 0.85, color * 0.45)


def _facial_hair(s):
    """Full beard, goatee, moustache, sideburns and stubble, in the hair's colour."""
    f, a, b, ax, px, py = s.feat, s.h["a"], s.h["b"], s.ax, s.px, s.py
    beard = s.f("beard")
    grain = _noise(s, 1)
    color = s.rgb("hair_color") * 0.8 * (0.8 + 0.35 * grain)[..., None]
    mw, my = f["mw"], f["my"] - f["lift"] * 0.5
    top = 0.34 * b - 0.26 * b * np.clip((ax - 0.42 * a) / (0.5 * a), 0, 1)  # up the jaw, short of the ears
    mouth_hole = _ellipse(px, py - my - 0.2 * f["gap"], 1.05 * mw, 0.08 * b + 0.6 * f["gap"])
    full = s.on_face(np.maximum(top - py, -mouth_hole))
    tache = s.on_face(np.maximum(np.abs(py - my + 0.085 * b - 0.06 * b * (px / mw) ** 2) - 0.045 * b, ax - 1.12 * mw))
    goatee = s.on_face(np.minimum(_ellipse(px, py - 0.86 * b, 0.24 * a, 0.16 * b),
                                  np.maximum(ax - 0.07 * a, np.abs(py - 0.74 * b) - 0.08 * b)))
    goatee *= 1 - s.on_face(mouth_hole)
    taper = 0.86 + 0.5 * np.clip(py / b + 0.1, 0, None)  # sideburns narrow toward the jaw
    burns = _cover_field(np.maximum((taper - np.abs(s.sin_phi)) * a, np.abs(py + 0.04 * b) - 0.18 * b))
    burns *= s.head * (s.front > 0)
    shadow = np.clip(0.5 - np.maximum(top - py, -mouth_hole) / (0.12 * a), 0, 1) * s.face  # soft-edged
    stubble = shadow * s.f("stubble") * (0.3 + 0.12 * grain)
    s.paint(stubble, s.rgb("hair_color") * 0.3 + np.float32([0.12, 0.12, 0.14]))
    hair = np.maximum.reduce([full * (beard == 4), tache * np.isin(beard, (1, 3, 4)),
                              goatee * np.isin(beard, (2, 3)), burns * s.f("sideburns")])
    s.paint(hair * 0.95, color)


def _noise(s, salt) -> np.ndarray:
    """Per-pixel hash noise in [0, 1], fixed by each face's seed (so batching never changes a face)."""
    seed = (np.asarray(s.p["seed"]).astype(np.uint32) + np.uint32(7919 * salt)).reshape(-1, 1, 1)
    x = (s.ix * np.uint32(73856093)) ^ (s.iy * np.uint32(19349663)) ^ (seed * np.uint32(83492791))
    x ^= x >> np.uint32(13)
    x *= np.uint32(0x5BD1E995)
    x ^= x >> np.uint32(15)
    return (x & np.uint32(0xFFFF)).astype(np.float32) / 65535


def _hair(s) -> np.ndarray:
    """Hair on the head above a hairline (lowered by bangs, raised and notched when receding), a volume
    around the skull, and for longer hair curtains beside the face down to the jaw or the shoulders.
    Keeps its coverage as `s.hair`: it hides the far earring."""
    h, a, b, u, v = s.h, s.h["a"], s.h["b"], s.u, s.v
    hat, bald, length = s.f("hat") > 0, s.f("bald") > 0, s.f("hair_length")
    bangs, receding = s.f("bangs") * (1 - hat), s.f("receding") * (1 - hat)
    side, back = np.abs(s.sin_phi), s.front < 0
    y = s.py / b
    top = np.where(receding > 0, -0.8, np.where(bangs > 0, -0.37, -0.6))
    line = top + (-0.16 - top) * side ** 4 - 0.16 * receding * np.exp(-((side - 0.5) / 0.25) ** 2)
    line = line + bangs * 0.035 * np.abs(np.sin(s.px / a * 12)) * (side < 0.7)  # a fringe of strands
    line = np.where(back, np.where(length > 0, 3.0, 0.35), line)
    curtain = np.maximum((0.82 - side) * a, (y - np.where(length > 1, 3.0, 0.95)) * b)
    on_head = np.minimum((y - line) * b, np.where(length > 0, curtain, 1.0))
    # What a bald man keeps: a band above the ears that runs round the back of the head.
    fringe = (np.sqrt(((s.front + 0.35) / 0.6) ** 2 + ((y + 0.02) / 0.28) ** 2) - 1) * 0.3 * b
    on_head = np.where(bald, np.where(hat, 1.0, fringe), on_head)
    vol = s.f("hair_volume") * (1 - bald)
    cxo = h["cx"] - 0.1 * a * np.sin(h["yaw"])  # the back of the head shows on the far side
    cut = h["cy"] - 0.12 * b  # short hair stops above the ears, hugging the head there
    hug = np.where(length > 0, 1, np.clip((cut - v) / (0.5 * b), 0.15, 1))
    skull = _ellipse(u - cxo, v - h["cy"] + 0.04 * b, a + vol * hug, b + 1.2 * vol)
    wave = s.f("wavy") * 0.025 * np.sin(v * 26 + s.f("seed") % 7)
    flare = np.where(length > 1, 0.12 * np.clip((v - h["cy"]) / b, 0, 1.5), 0.02)
    bottom = h["cy"] + np.where(length > 1, 1.6, 0.95) * b
    width = a + vol + flare + wave
    ends = v - bottom - wave + 0.25 * np.minimum(np.abs(u - cxo) / width, 1) ** 2  # ends curl in at the sides
    drape = np.maximum(np.abs(u - cxo) - width, np.maximum(h["cy"] - 0.3 * b - v, ends))
    outer = np.where(length > 0, np.minimum(skull, drape), np.maximum(skull, v - cut))
    outer = np.where(bald, 1.0, outer)
    nw = a * (0.38 + 0.07 * s.f("male")) * 1.1
    neck = np.maximum(np.abs(u - h["cx"]) - nw, h["cy"] + 0.75 * b - v)  # long hair parts around the neck
    outside = _cover_field(outer) * (1 - _cover(neck, s.pix))
    alpha = s.head * _cover_field(on_head) + (1 - s.head) * outside
    alpha = alpha * (1 - ((length == 0) & hat))  # a hat hides short hair entirely
    # Strands fan out from above the head, wavy or straight; a sheen where the light falls.
    t = (u - cxo) / (v - h["cy"] + 1.8 * b)
    ang = t / (1 + 0.28 * t * t)  # ~arctan(t), at a fraction of its cost
    strands = np.sin(ang * 70 + s.f("wavy") * 1.5 * np.sin(v * 30) + s.f("seed") % 5)
    sheen = _blob(u - cxo + 0.3 * a * s.f("light"), v - h["cy"] + 0.7 * b, 0.35 * a, 0.18 * b)
    shade = (0.76 + 0.09 * strands + 0.3 * sheen) * (1 - 0.2 * (1 - s.head))
    s.paint(alpha, s.rgb("hair_color") * shade[..., None])
    s.hair[...] = alpha


def _glasses(s):
    """Frames (round or rectangular) around the eyes, a bridge, arms to the ears; clear or dark lenses."""
    f, a, b, ax, py = s.feat, s.h["a"], s.h["b"], s.ax, s.py
    ex, ey = f["ex"], f["ey"] + 0.01 * b
    lw, lh = 0.29 * a, 0.2 * a
    power = np.where(s.f("round_frames") > 0, 2.0, 4.0)
    r = ((np.abs(ax - ex) / lw) ** power + (np.abs(py - ey) / lh) ** power) ** (1 / power)
    d = (r - 1) * lh
    ft = 0.034 + 0.01 * s.f("sunglasses")
    dark = s.f("sunglasses")
    s.paint(s.on_face(d) * (0.15 + 0.75 * dark), np.where(dark[..., None] > 0, s.rgb("frame_color") * 0.3 + 0.03, 0.95))
    frame = np.abs(d) - ft / 2
    bridge = np.maximum(np.abs(py - ey + 0.3 * lh) - ft / 2.5, ax - ex + 0.9 * lw)
    arm = np.maximum(np.abs(py - ey + 0.4 * lh) - ft / 2.5, ex + 0.95 * lw - ax)
    mask = np.maximum(s.on_face(np.minimum(frame, bridge)), s.on_face(arm) * (s.front > 0.05))
    s.paint(mask, s.rgb("frame_color"))


def _hat(s):
    """A beanie pulled down to the forehead, or a hat with a crown and a brim; both follow the pose."""
    h, a, b, u, v = s.h, s.h["a"], s.h["b"], s.u, s.v
    kind = s.f("hat")
    side = np.abs(s.sin_phi)
    edge = np.where(s.front < 0, 0.05, -0.42 + 0.14 * side ** 2)  # the beanie's rim on the head
    on_head = _cover_field((s.py / b - edge) * b)
    cut = h["cy"] + b * np.sin(np.arcsin(-0.3) - h["tilt"])
    vol = s.f("hair_volume") * (s.f("hair_length") > 0) + 0.035
    dome = _cover_field(np.maximum(_ellipse(u - h["cx"], v - h["cy"] + 0.06 * b, a + vol, b + vol + 0.04), v - cut))
    beanie = s.head * on_head + (1 - s.head) * dome
    fold_on_head = _cover_field(np.abs(s.py / b - edge + 0.09) * b - 0.08 * b)
    fold = s.head * fold_on_head + (1 - s.head) * _cover(np.abs(v - cut + 0.07) - 0.06, s.pix)
    vb = h["cy"] + b * np.sin(np.arcsin(-0.5) - h["tilt"])  # the brim's front, on the forehead
    height = 0.5 * b + 0.12
    wc = 1.04 * a - 0.12 * a * np.clip((vb - v) / height, 0, 1)
    dent = 0.06 * np.cos((u - h["cx"]) / a * 3)  # the crown's top dips in the middle
    crown = _cover_field(np.maximum(np.abs(u - h["cx"]) - wc, np.maximum(vb - height - v + dent, v - vb)))
    brim = _cover(_ellipse(u - h["cx"], v - vb, 1.6 * a, 0.05 + 0.15 * np.abs(np.sin(h["pitch"]))), s.pix)
    band = crown * _cover(np.abs(v - vb + 0.06) - 0.03, s.pix)
    color = s.rgb("hat_color")
    rib = (0.9 + 0.1 * np.sin(u * 90))[..., None]
    s.paint(beanie * (kind == 1), color * rib * (0.75 + 0.3 * (1 - ((u - h["cx"]) / (a + 0.1)) ** 2))[..., None])
    s.tint(fold * beanie * (kind == 1), 0.8)
    rim = 0.8 + 0.2 * (1 - np.clip(np.abs(u - h["cx"]) / (1.6 * a), 0, 1))
    s.paint(np.maximum(crown, brim) * (kind == 2), color * rim[..., None])
    s.tint(band * (kind == 2), 0.45)


def _earrings(s):
    """A stud-drop or a hoop under each lobe; one behind the head or the hair is hidden, as in a photo."""
    hoop = s.f("hoops")
    for e in _ear_geometry(s.h):
        lobe = e["cy"] + 0.95 * e["ry"]
        r = np.sqrt((s.u - e["cx"]) ** 2 + (s.v - lobe - 0.04 - 0.015 * hoop) ** 2)
        drop = np.where(hoop > 0, np.abs(r - 0.045) - 0.013, r - 0.034)
        hidden = np.where(e["zr"] < -0.2, np.maximum(s.head, s.hair), 0)  # on the ear turned away
        shine = 0.75 + 0.4 * (s.v < lobe + 0.03)
        s.paint(_cover(drop, s.pix) * (1 - hidden), s.rgb("metal_color") * shine[..., None])


def _blur(s):
    """Blurry photos: a Gaussian blur of a fixed size relative to the face."""
    sigma = 0.025 * s.size / 2
    for i in np.flatnonzero(np.asarray(s.p["blurry"])):
        s.img[i] = gaussian_filter(s.img[i], (sigma, sigma, 0), mode="nearest")


def _rows(h, y0, y1, margin=0.08):
    """Image heights (top, bottom) covering frontal heights y0..y1 (head units) under each face's tilt."""
    def image_v(y):
        yn = np.sin(np.arcsin(y) - h["tilt"])
        return h["cy"] + yn * np.where(yn > 0, h["b_low"], h["b"])
    return image_v(y0) - margin, image_v(y1) + margin


def _in(s, draw, faces=None, rows=(None, None)):
    """Draw one part only where it can be: on `faces` (a boolean mask) and within `rows` (top, bottom)."""
    if faces is not None and not np.any(faces):
        return
    sub = s.part(faces, *rows)
    draw(sub)
    s.done(sub)


def draw(p, size) -> np.ndarray:
    """Draw one batch of faces back to front; uint8 (n, size, size, 3)."""
    s = _Scene(p, size)
    h, beard = s.h, p["beard"]
    _background(s)
    _in(s, _body, rows=(h["cy"] + 0.3 * h["b"], None))
    _in(s, _tie, p["necktie"], rows=(h["cy"] + 0.9 * h["b"], None))
    _in(s, _necklace, p["necklace"], rows=(h["cy"] + 0.9 * h["b"], None))
    ear = _ear_geometry(h)[0]  # ears sit near the axis of a nod, not on the face's surface
    band = s.part(None, ear["cy"] - ear["ry"] - 0.03, ear["cy"] + ear["ry"] + 0.03)  # a view: drawing on it draws on s
    ears = _ears(band)
    _paint_ears(band, ears)
    _in(s, _double_chin, p["double_chin"] & (beard != 4), rows=_rows(h, 0.8, 1.0, 0.15))
    _in(s, _skin, rows=_rows(h, -1, 1, 0.02))
    _in(s, _cheeks, rows=_rows(h, -0.15, 0.6))
    _in(s, _wrinkles, p["age"] >= YOUNG_BELOW, rows=_rows(h, -0.6, 0.75))
    _in(s, _folds, rows=_rows(h, 0.25, 0.75))
    _in(s, _nose, rows=_rows(h, -0.1, 0.5, 0.12))
    _in(s, _mouth, rows=_rows(h, 0.35, 0.85))
    _in(s, _facial_hair, (beard > 0) | p["stubble"] | p["sideburns"], rows=_rows(h, -0.35, 1.0))
    _in(s, _eyes, rows=_rows(h, -0.55, 0.45))
    _in(s, _brows, rows=_rows(h, -0.45, -0.05))
    bald, length = p["bald"], p["hair_length"]
    short = bald | (length == 0)
    _paint_ears(band, ears, near=~short)
    shown = ~((p["hat"] > 0) & ((length == 0) | bald))  # a hat hides short hair and a bald crown
    _in(s, _hair, shown & short, rows=(None, np.maximum(_rows(h, 0, 0.45)[1], h["cy"] + 0.1 * h["b"])))
    _in(s, _hair, shown & ~short & (length == 1), rows=(None, np.maximum(_rows(h, 0, 1)[1], h["cy"] + 1.15 * h["b"])))
    _in(s, _hair, shown & ~short & (length == 2))
    _paint_ears(band, ears, near=short)
    _in(s, _glasses, p["glasses"], rows=_rows(h, -0.35, 0.2))
    _in(s, _hat, p["hat"] > 0, rows=(None, np.maximum(_rows(h, 0, 0.1)[1], h["cy"] + 0.1 * h["b"])))
    _in(s, _earrings, p["earrings"], rows=(ear["cy"], ear["cy"] + ear["ry"] + 0.15))
    _blur(s)
    return np.clip(s.img * 255 + 0.5, 0, 255).astype(np.uint8)
