"""Matplotlib figures the notebooks show: image grids, loss curves, digit frequencies."""

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from gan_lab import images as img


def show_images(pictures, titles=None, cols=8, size=1.2, cmap="gray"):
    """Show uint8 images (n, H, W, C) in a grid, each with an optional title."""
    pictures = np.asarray(pictures)
    rows = int(np.ceil(len(pictures) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size * 1.15), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, picture in enumerate(pictures):
        ax = axes.flat[i]
        ax.imshow(picture.squeeze(), cmap=cmap if picture.shape[-1] == 1 else None, vmin=0, vmax=255)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig


def show_pngs(paths, titles, size=3.2):
    """Show PNG files side by side (e.g. sample grids after several epochs)."""
    fig, axes = plt.subplots(1, len(paths), figsize=(size * len(paths), size + 0.4), squeeze=False)
    for ax, path, title in zip(axes.flat, paths, titles):
        ax.imshow(np.asarray(Image.open(path)), cmap="gray")
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_losses(histories: dict, keys=("d_loss", "g_loss")):
    """Loss curves per run: {run name: {column: array}} as read from history.csv."""
    fig, axes = plt.subplots(1, len(histories), figsize=(5 * len(histories), 3.2), squeeze=False)
    for ax, (name, history) in zip(axes.flat, histories.items()):
        for key in keys:
            ax.plot(history["epoch"], history[key], label=key)
        ax.set(title=name, xlabel="epoch", ylabel="loss")
        ax.legend()
    fig.tight_layout()
    return fig


def plot_digit_frequencies(figures: dict, band=(0.06, 0.14)):
    """Bars of how often each digit is generated vs real; the accepted band shaded."""
    fig, ax = plt.subplots(figsize=(7, 2.8))
    digits = np.arange(10)
    for offset, (name, f) in zip((-0.2, 0.2), figures.items()):
        ax.bar(digits + offset, f["digit_frequencies"], width=0.4, label=name)
    ax.axhspan(*band, color="green", alpha=0.1, label=f"{band[0]:.0%}-{band[1]:.0%}")
    ax.set(xticks=digits, xlabel="digit (classifier's call)", ylabel="share of samples")
    ax.legend(ncol=3, fontsize=8)
    fig.tight_layout()
    return fig


def plot_attribute_rates(figures: dict, band=0.10):
    """Per-attribute rates of generated vs real faces (`metrics.face_attributes.face_quality`), sorted by
    the gap; bars outside the +-band (the target) are drawn red."""
    gaps = figures["rate_gaps"]
    names = sorted(gaps, key=lambda k: gaps[k])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.18 * len(names) + 1.2), sharey=True)
    y = np.arange(len(names))
    left.barh(y + 0.2, [figures["rates_real"][k] for k in names], 0.4, label="real")
    left.barh(y - 0.2, [figures["rates_generated"][k] for k in names], 0.4, label="generated")
    left.set(yticks=y, yticklabels=names, xlabel="share of faces (classifier p >= 0.5)", xlim=(0, 1))
    left.legend(fontsize=8)
    right.barh(y, [gaps[k] for k in names], color=["tab:red" if abs(gaps[k]) > band else "tab:green" for k in names])
    right.axvspan(-band, band, color="green", alpha=0.08)
    right.set(xlabel="generated - real", xlim=(-1, 1))
    for ax in (left, right):
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def grid_of(generator, latents, value_range=(-1.0, 1.0)):
    """Generate from a Keras generator and tile into one uint8 picture."""
    return img.grid(img.to_uint8(generator.predict(latents, verbose=0), value_range))


def plot_throughput(results):
    """Grouped bars: images/s per backend, one group per batch size, log scale, spread as error bars."""
    batches = sorted({r.batch for r in results})
    backends = list(dict.fromkeys(r.backend for r in results))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(batches) * len(backends) / 4), 3.6))
    width = 0.8 / len(backends)
    for i, backend in enumerate(backends):
        rows = {r.batch: r for r in results if r.backend == backend}
        xs = [k + i * width for k, b in enumerate(batches) if b in rows]
        ys = [rows[b].images_per_s for b in batches if b in rows]
        err = np.array([[rows[b].images_per_s - rows[b].images_per_s_spread[0],
                         rows[b].images_per_s_spread[1] - rows[b].images_per_s] for b in batches if b in rows]).T
        ax.bar(xs, ys, width, yerr=err, label=backend, capsize=2)
    ax.set(xticks=[k + 0.4 - width / 2 for k in range(len(batches))], xticklabels=[f"batch {b}" for b in batches],
           ylabel="images/s", yscale="log")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_cpu_timeline(results, batch):
    """CPU use of each core over time while one batch size ran, shaded by the backend running."""
    rows = [r for r in results if r.batch == batch and r.cpu_timeline]
    colors = dict(zip(dict.fromkeys(r.backend for r in rows), plt.cm.tab10.colors))
    fig, ax = plt.subplots(figsize=(10, 3))
    for r in rows:
        t = np.array([s[0] for s in r.cpu_timeline])
        cores = np.array([s[1] for s in r.cpu_timeline])
        for start, stop in _runs_of(t):  # one shaded span per timed repeat
            ax.axvspan(t[start], t[stop], color=colors[r.backend], alpha=0.25, lw=0)
            for c in range(cores.shape[1]):
                ax.plot(t[start:stop + 1], cores[start:stop + 1, c], color="k", ls=("-", ":")[c % 2], lw=0.9)
    ax.set(xlabel="seconds", ylabel="CPU % per core", ylim=(0, 105), title=f"batch {batch}")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.4) for c in colors.values()]
    handles += [plt.Line2D([], [], color="k", ls=ls) for ls in ("-", ":")]
    ax.legend(handles, [*colors, "core 0", "core 1"], fontsize=7, ncol=4, loc="lower right")
    fig.tight_layout()
    return fig


def _runs_of(t, gap=0.5):
    """(first, last) indices of the stretches of a time series without a pause longer than `gap`."""
    breaks = np.flatnonzero(np.diff(t) > gap)
    starts, stops = np.r_[0, breaks + 1], np.r_[breaks, len(t) - 1]
    return list(zip(starts, stops))


def plot_flops(results, peak):
    """Achieved GFLOP/s per backend against batch size, with the machine's SGEMM peak as a ceiling."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for backend in dict.fromkeys(r.backend for r in results):
        rows = sorted((r for r in results if r.backend == backend), key=lambda r: r.batch)
        ax.plot([r.batch for r in rows], [r.images_per_s * r.flops_per_image / 1e9 for r in rows], "o-",
                label=backend, ms=3)
    ax.axhline(peak, color="k", ls="--", lw=1)
    ax.text(min(r.batch for r in results), peak, f" SGEMM peak {peak:.0f}",
            va="bottom", fontsize=8)
    ax.set(xscale="log", yscale="log", xlabel="batch", ylabel="achieved GFLOP/s")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_flip_heatmap(matrix, directions, attributes, title="share of edits that flip each attribute"):
    """Rows: directions; columns: attributes; cell: how often an edit along the row flips the column."""
    fig, ax = plt.subplots(figsize=(0.28 * len(attributes) + 2, 0.3 * len(directions) + 1.6))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="magma", aspect="auto")
    ax.set(xticks=range(len(attributes)), yticks=range(len(directions)), title=title)
    ax.set_xticklabels(attributes, rotation=90, fontsize=7)
    ax.set_yticklabels(directions, fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    return fig


def plot_turns(turns: dict):
    """Per model (`identity_grid.turn` results): measured against asked yaw, each person faint and
    the median bold, and the median identity drift along the turn."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for (model, t), colour in zip(turns.items(), plt.cm.tab10.colors):
        axes[0].plot(t["asked"], t["measured"].T, color=colour, lw=0.4, alpha=0.35)
        axes[0].plot(t["asked"], np.median(t["measured"], axis=0), "o-", color=colour,
                     label=f"{model} (median of {len(t['measured'])})")
        axes[1].plot(t["asked"], np.median(t["drift"], axis=0), "o-", color=colour, label=model)
    asked = next(iter(turns.values()))["asked"]
    axes[0].plot(asked, asked, "k--", lw=0.8, label="asked")
    axes[0].set(xlabel="yaw asked (degrees)", ylabel="yaw measured", ylim=(-70, 70))
    axes[1].set(xlabel="yaw asked (degrees)", ylabel="identity drift (1 = a stranger)")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
