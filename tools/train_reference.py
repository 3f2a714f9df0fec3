#!/usr/bin/env python3
"""An independent reference for training a new style of the 26-style net, in JAX (XLA on the
CPU, float64), written from the definitions: the net (Dumoulin et al.'s conditional instance
norm net as docs and src/models/multistyle.rs describe it), VGG16 to relu4_3, and the
perceptual loss (content relu3_3, style relu1_2/relu2_2/relu3_3/relu4_3 Gram matrices
normalised by C H W, total variation), differentiated by JAX with respect to the row of norm
parameters (per norm: gamma, then beta).

    .venv/bin/pip install -r tools/requirements-reference.txt
    .venv/bin/python tools/train_reference.py

Weights are read from the converted model files (models/multistyle26.safetensors,
models/vgg16.safetensors, its 8-bit codebook expanded), the same numbers the GPU uses, so the
comparison tests the training math and not the conversion. Inputs: the 64x64 crops
tests/fixtures/gatys/content.png and other.png as a batch of 2, the painting
tests/fixtures/gatys/style.png (64x51) at its own size. Writes tests/fixtures/train/:
gradient64.f32 (the mean loss's gradient with respect to the row, starting from the mean of
the 26 styles) and reference.json (its losses, and the losses before each of 10 Adam steps on
that batch and after the last: lr 0.01, betas 0.9 and 0.999, eps 1e-8).
"""
import json
import pathlib

import numpy as np
from PIL import Image
from safetensors.numpy import load_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "train"
MEAN_BGR = np.array([103.939, 116.779, 123.68])
CW, SW, TVW = 1.0, 5.0, 1e-6
LR, B1, B2, EPS = 0.01, 0.9, 0.999, 1e-8
# (name, kernel, stride, activation after the norm), in network order.
NET = [("contract.0", 9, 1, "relu"), ("contract.1", 3, 2, "relu"), ("contract.2", 3, 2, "relu")]
for b in range(6):
    NET += [(f"res.{b}.0", 3, 1, "relu"), (f"res.{b}.1", 3, 1, "id")]
NET += [("expand.0", 3, 1, "relu"), ("expand.1", 3, 1, "relu"), ("expand.2", 9, 1, "sigmoid")]
VGG = ["block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1",
       "block3_conv2", "block3_conv3", "block4_conv1", "block4_conv2", "block4_conv3"]
STYLE = [1, 3, 6, 9]  # relu1_2, relu2_2, relu3_3, relu4_3
CONTENT = 6  # relu3_3


def main():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    net = load_file(ROOT / "models" / "multistyle26.safetensors")
    vgg_file = load_file(ROOT / "models" / "vgg16.safetensors")
    vgg = [(vgg_file[f"{n}.weight_table"].astype(np.float64)[vgg_file[f"{n}.weight_q"]],
            vgg_file[f"{n}.bias"].astype(np.float64)) for n in VGG]
    sizes = [net[f"{n}.w"].shape[0] for n, *_ in NET]
    row0 = np.concatenate([np.concatenate([net[f"{n}.norm.gamma"].astype(np.float64).mean(0),
                                           net[f"{n}.norm.beta"].astype(np.float64).mean(0)])
                           for n, *_ in NET])

    def conv(x, w, stride, pad, mode):
        x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad)), mode=mode)
        return lax.conv_general_dilated(x[None], jnp.asarray(w, x.dtype), (stride, stride), "VALID",
                                        dimension_numbers=("NCHW", "OIHW", "NCHW"))[0]

    def transform(x, row):
        params, at = [], 0
        for c in sizes:
            params.append((row[at:at + c], row[at + c:at + 2 * c]))
            at += 2 * c

        def layer(i, h):
            name, k, stride, act = NET[i]
            y = conv(h, net[f"{name}.w"].astype(np.float64), stride, k // 2, "reflect")
            mean = y.mean(axis=(1, 2), keepdims=True)
            var = ((y - mean) ** 2).mean(axis=(1, 2), keepdims=True)
            g, b = params[i]
            y = g[:, None, None] * (y - mean) / jnp.sqrt(var + 1e-5) + b[:, None, None]
            return {"relu": lambda v: jnp.maximum(v, 0.0), "id": lambda v: v,
                    "sigmoid": jax.nn.sigmoid}[act](y)

        h = layer(2, layer(1, layer(0, x)))
        for b in range(6):
            h = h + layer(4 + 2 * b, layer(3 + 2 * b, h))
        for i in (15, 16):
            h = layer(i, jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2))
        return layer(17, h)

    def to_vgg(rgb_unit):
        return rgb_unit[::-1] * 255.0 - jnp.asarray(MEAN_BGR)[:, None, None]

    def features(x):
        out, h = [], x
        for i, (w, b) in enumerate(vgg):
            if i in (2, 4, 7):
                h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2), (1, 2, 2), "VALID")
            h = jnp.maximum(conv(h, w, 1, 1, "constant") + b[:, None, None], 0.0)
            out.append(h)
        return out

    def gram(f):
        m = f.reshape(f.shape[0], -1)
        return m @ m.T / f.size

    def png(name):
        return np.asarray(Image.open(ROOT / "tests/fixtures/gatys" / name).convert("RGB"), np.float64).transpose(2, 0, 1) / 255.0

    photos = [png("content.png"), png("other.png")]
    targets = [gram(features(to_vgg(png("style.png")))[i]) for i in STYLE]
    contents = [features(to_vgg(p))[CONTENT] for p in photos]

    def losses(row):
        c = s = tv = 0.0
        for p, fc in zip(photos, contents):
            y = to_vgg(transform(jnp.asarray(p), row))
            f = features(y)
            c += CW * jnp.mean((f[CONTENT] - fc) ** 2)
            s += sum(SW * jnp.mean((gram(f[i]) - t) ** 2) for i, t in zip(STYLE, targets))
            tv += TVW * 0.5 * (jnp.sum((y[:, :-1, :-1] - y[:, :-1, 1:]) ** 2)
                               + jnp.sum((y[:, :-1, :-1] - y[:, 1:, :-1]) ** 2))
        n = len(photos)
        return jnp.stack([c / n, s / n, tv / n])

    value_and_grad = jax.jit(jax.value_and_grad(lambda r: losses(r).sum(), has_aux=False))
    terms = jax.jit(losses)
    row = jnp.asarray(row0)
    first = np.asarray(terms(row))
    _, g0 = value_and_grad(row)
    trajectory, m, v = [], np.zeros_like(row0), np.zeros_like(row0)
    for t in range(1, 11):
        trajectory.append([float(x) for x in terms(row)])
        _, g = value_and_grad(row)
        g = np.asarray(g)
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * g * g
        row = row - LR * (m / (1 - B1 ** t)) / (np.sqrt(v / (1 - B2 ** t)) + EPS)
    trajectory.append([float(x) for x in terms(row)])
    OUT.mkdir(parents=True, exist_ok=True)
    np.asarray(g0, np.float32).tofile(OUT / "gradient64.f32")
    (OUT / "reference.json").write_text(json.dumps({
        "losses": {"content": float(first[0]), "style": float(first[1]), "tv": float(first[2])},
        "adam": {"learning_rate": LR, "beta1": B1, "beta2": B2, "eps": EPS},
        "trajectory": [{"content": c, "style": s, "tv": tv} for c, s, tv in trajectory],
    }, indent=1) + "\n")
    print("losses", first, "|grad|max", float(np.abs(g0).max()))
    for i, t in enumerate(trajectory):
        print(i, t)


if __name__ == "__main__":
    main()
