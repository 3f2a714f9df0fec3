#!/usr/bin/env python3
"""The training step of `style-transfer train` in PyTorch on the CPU: the speed reference for
`style-transfer bench train`. Written from the definitions, like tools/train_reference.py:
the 26-style net with its convolutions frozen and one row of conditional-norm parameters
trained (or with --net johnson a whole Johnson net, every parameter trained), VGG16 to relu4_3
as the loss net (content relu3_3, style relu1_2 .. relu4_3, TV), Adam, a batch of B photos as
one tensor.

    .venv/bin/pip install torch            # the CPU build from the registry
    .venv/bin/python tools/bench_train_torch.py --sizes 128,256 --batch 4 --steps 2 --threads 2
    .venv/bin/python tools/bench_train_torch.py --net johnson --width 0.5 --sizes 128,256

Prints a Markdown table: ms per step and steps/s (after one warm-up step) per size. Weights are
read from models/multistyle26.safetensors and models/vgg16.safetensors (the 8-bit codebook
expanded), the same numbers the GPU uses; images are random (speed does not depend on them).
"""
import argparse
import pathlib
import sys
import time

import numpy as np
from safetensors.numpy import load_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from train_reference import CONTENT, MEAN_BGR, NET, STYLE, VGG, johnson_init, johnson_layers  # noqa: E402  (the same layer lists)


def build(torch):
    F = torch.nn.functional
    net = {k: torch.from_numpy(v) for k, v in load_file(ROOT / "models/multistyle26.safetensors").items()}
    vf = load_file(ROOT / "models/vgg16.safetensors")
    vgg = [(torch.from_numpy(vf[f"{n}.weight_table"][vf[f"{n}.weight_q"]]), torch.from_numpy(vf[f"{n}.bias"]))
           for n in VGG]
    sizes = [net[f"{n}.w"].shape[0] for n, *_ in NET]
    row0 = torch.cat([torch.cat([net[f"{n}.norm.gamma"].mean(0), net[f"{n}.norm.beta"].mean(0)]) for n, *_ in NET])
    mean = torch.tensor(MEAN_BGR, dtype=torch.float32).view(1, 3, 1, 1)

    def transform(x, row):
        at, params = 0, []
        for c in sizes:
            params.append((row[at:at + c], row[at + c:at + 2 * c]))
            at += 2 * c

        def layer(i, h):
            name, k, stride, act = NET[i]
            h = F.conv2d(F.pad(h, (k // 2,) * 4, mode="reflect"), net[f"{name}.w"], stride=stride)
            g, b = params[i]
            h = F.instance_norm(h, eps=1e-5) * g.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)
            return {"relu": F.relu, "id": lambda v: v, "sigmoid": torch.sigmoid}[act](h)

        h = layer(2, layer(1, layer(0, x)))
        for b in range(6):
            h = h + layer(4 + 2 * b, layer(3 + 2 * b, h))
        for i in (15, 16):
            h = layer(i, F.interpolate(h, scale_factor=2, mode="nearest"))
        return layer(17, h)

    def features(x):
        out = []
        for i, (w, b) in enumerate(vgg):
            if i in (2, 4, 7):
                x = F.max_pool2d(x, 2)
            x = F.relu(F.conv2d(x, w, b, padding=1))
            out.append(x)
        return out

    def gram(f):
        n, c, h, w = f.shape
        m = f.reshape(n, c, h * w)
        return m @ m.transpose(1, 2) / (c * h * w)

    def to_vgg(x):
        return x.flip(1) * 255.0 - mean

    return transform, features, gram, to_vgg, row0


def johnson(torch, base):
    """A Johnson net of `base` channels as the engine initialises it: (transform, its parameters);
    the transform takes and gives [0, 1] images (the net's own range is 0-255)."""
    F = torch.nn.functional
    layers = johnson_layers(base)
    params = [torch.tensor(t, dtype=torch.float32, requires_grad=True) for t in johnson_init(base, 0)]

    def transform(x, p):
        it = iter(p)

        def layer(i, h, relu):
            _, _, _, k, stride, norm = layers[i]
            h = F.conv2d(F.pad(h, (k // 2,) * 4, mode="reflect"), next(it), next(it), stride=stride)
            if norm:
                h = F.instance_norm(h, weight=next(it), bias=next(it), eps=1e-5)
            return F.relu(h) if relu else h

        h = layer(2, layer(1, layer(0, x * 255.0, True), True), True)
        for b in range(5):
            h = h + layer(4 + 2 * b, layer(3 + 2 * b, h, True), False)
        for i in (13, 14):
            h = layer(i, F.interpolate(h, scale_factor=2, mode="nearest"), True)
        return layer(15, h, False) / 255.0

    return transform, params


def step_timer(torch, size, batch, base):
    transform, features, gram, to_vgg, row0 = build(torch)
    style = [gram(f) for i, f in enumerate(features(to_vgg(torch.rand(1, 3, 256, 256)))) if i in STYLE]
    if base:
        transform, trained = johnson(torch, base)
        opt = torch.optim.Adam(trained, lr=1e-3)
        row = trained
    else:
        row = row0.clone().requires_grad_(True)
        opt = torch.optim.Adam([row], lr=0.01)
    photos = torch.rand(batch, 3, size, size)

    def step():
        with torch.no_grad():
            content = features(to_vgg(photos))[CONTENT]
        y = to_vgg(transform(photos, row))
        f = features(y)
        loss = torch.mean((f[CONTENT] - content) ** 2)
        for i, t in zip(STYLE, style):
            loss = loss + 5.0 * torch.mean((gram(f[i]) - t) ** 2)
        loss = loss + 1e-6 * 0.5 * (((y[:, :, :-1, :-1] - y[:, :, :-1, 1:]) ** 2).sum()
                                    + ((y[:, :, :-1, :-1] - y[:, :, 1:, :-1]) ** 2).sum()) / batch
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="128,256")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--net", default="multistyle26", choices=["multistyle26", "johnson"])
    ap.add_argument("--width", default="1", choices=["1", "0.5"])
    a = ap.parse_args()
    base = (32 if a.width == "1" else 16) if a.net == "johnson" else 0
    import torch

    torch.set_num_threads(a.threads)
    what = f"a Johnson net of width {a.width}" if base else "a style of the 26-style net"
    print(f"PyTorch {torch.__version__} on the CPU, {a.threads} threads, training {what}\n")
    print("| size | batch | ms per step | steps/s |\n|---|---|---:|---:|")
    for size in map(int, a.sizes.split(",")):
        step = step_timer(torch, size, a.batch, base)
        step()
        start = time.perf_counter()
        for _ in range(a.steps):
            step()
        ms = (time.perf_counter() - start) * 1e3 / a.steps
        print(f"| {size}x{size} | {a.batch} | {ms:.0f} | {1e3 / ms:.3f} |", flush=True)


if __name__ == "__main__":
    main()
