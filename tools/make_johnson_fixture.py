#!/usr/bin/env python3
"""Fixtures for the Johnson transform-net path, with synthesised weights (no trained Johnson
weights exist in the registries):

    .venv/bin/python tools/make_johnson_fixture.py

1. Seeded random weights for PyTorch examples' TransformerNet. Conv weights are drawn from a
   256-entry table (scaled normal quantiles, He scale per layer), so that the 8-bit codebook form
   holds them exactly; instance-norm affine parameters and biases are float32.
2. The same weights written two ways, as a user would bring them: a torch.save zip state dict
   (`/tmp/.../seeded.pth`, written without torch: the pickle names torch's rebuild function, as
   torch does) and an ONNX graph of the architecture (`seeded.onnx`: reflection Pad, Conv,
   InstanceNormalization, Relu, Add, nearest Resize, as torch.onnx exports it).
3. Both converted with tools/convert_models.py; the two outputs must hold identical tensors. The
   codebook conversion is committed as tests/fixtures/johnson/seeded.safetensors (1.7 MB).
4. onnxruntime runs the ONNX graph on a 64x48 photo crop: input PNG and the output (f32, RGB in
   [0, 255] before any clamping, [3, H, W]) are committed for the parity test.
"""
import collections
import io
import pathlib
import subprocess
import sys
import tempfile
import types
import zipfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import convert_models  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "johnson"
SEED = 20161  # Johnson, Alahi & Fei-Fei, 2016
W, H = 64, 48


def synthesise():
    rng = np.random.default_rng(SEED)
    # Normal quantiles: a table whose uniform sampling looks like N(0, 1).
    base = np.sort(rng.standard_normal(4096))[::16][:256].astype(np.float32)
    sd = collections.OrderedDict()
    for name, cin, cout, k, _ in convert_models.JOHNSON_CONVS:
        table = base * np.float32(np.sqrt(2.0 / (cin * k * k)) * (0.5 if name.startswith("res") else 1.0))
        idx = rng.integers(0, 256, size=(cout, cin, k, k))
        sd[f"{name}.conv2d.weight"] = table[idx].astype(np.float32)
        sd[f"{name}.conv2d.bias"] = (0.05 * rng.standard_normal(cout)).astype(np.float32)
    for name, c in convert_models.JOHNSON_NORMS:
        sd[f"{name}.weight"] = (1.0 + 0.2 * rng.standard_normal(c)).astype(np.float32)
        sd[f"{name}.bias"] = (0.2 * rng.standard_normal(c)).astype(np.float32)
    # The last layer maps to pixel values: scale it so outputs span a few hundred.
    sd["deconv3.conv2d.weight"] *= np.float32(40.0)
    sd["deconv3.conv2d.bias"] += np.float32(128.0)
    return sd


def write_torch_zip(sd: dict, path: pathlib.Path):
    """torch.save's zip format, written with pickle alone: fake `torch` modules make pickle
    record the same globals (torch._utils._rebuild_tensor_v2, torch.FloatStorage)."""
    import pickle

    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:  # only its qualified name ends up in the file
        pass

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"

    def _rebuild_tensor_v2(*args):  # never called here
        raise AssertionError

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage = FloatStorage
    torch._utils = utils
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils

    class Storage:
        def __init__(self, key, arr):
            self.key, self.arr = key, arr

    class Tensor:
        def __init__(self, storage, shape):
            self.storage, self.shape = storage, shape

        def __reduce_ex__(self, _protocol):
            stride = tuple(int(np.prod(self.shape[i + 1 :])) for i in range(len(self.shape)))
            return (_rebuild_tensor_v2, (self.storage, 0, tuple(self.shape), stride, False, collections.OrderedDict()))

    storages = []
    obj = collections.OrderedDict()
    for name, arr in sd.items():
        st = Storage(str(len(storages)), np.ascontiguousarray(arr, dtype="<f4"))
        storages.append(st)
        obj[name] = Tensor(st, arr.shape)

    class P(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, Storage):
                return ("storage", FloatStorage, o.key, "cpu", o.arr.size)
            return None

    buf = io.BytesIO()
    try:
        P(buf, protocol=2).dump(obj)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("seeded/data.pkl", buf.getvalue())
        z.writestr("seeded/byteorder", "little")
        for st in storages:
            z.writestr(f"seeded/data/{st.key}", st.arr.tobytes())
        z.writestr("seeded/version", "3\n")


def onnx_graph(sd: dict):
    """TransformerNet as torch.onnx exports it (opset 13)."""
    nodes, inits = [], []
    counter = [0]

    def name(prefix):
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(arr, prefix):
        n = name(prefix)
        inits.append(numpy_helper.from_array(arr, n))
        return n

    def conv(x, layer, k, stride):
        p = const(np.array([0, 0, k // 2, k // 2, 0, 0, k // 2, k // 2], dtype=np.int64), "pads")
        padded = name("pad")
        nodes.append(helper.make_node("Pad", [x, p], [padded], mode="reflect"))
        w = const(sd[f"{layer}.conv2d.weight"], f"{layer}.weight")
        b = const(sd[f"{layer}.conv2d.bias"], f"{layer}.bias")
        y = name("conv")
        nodes.append(helper.make_node("Conv", [padded, w, b], [y], kernel_shape=[k, k], strides=[stride, stride]))
        return y

    def norm(x, layer, relu):
        s = const(sd[f"{layer}.weight"], f"{layer}.scale")
        b = const(sd[f"{layer}.bias"], f"{layer}.B")
        y = name("in")
        nodes.append(helper.make_node("InstanceNormalization", [x, s, b], [y], epsilon=1e-5))
        if relu:
            r = name("relu")
            nodes.append(helper.make_node("Relu", [y], [r]))
            return r
        return y

    def up(x):
        scales = const(np.array([1, 1, 2, 2], dtype=np.float32), "scales")
        y = name("up")
        nodes.append(helper.make_node("Resize", [x, "", scales], [y], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"))
        return y

    x = norm(conv("input", "conv1", 9, 1), "in1", True)
    x = norm(conv(x, "conv2", 3, 2), "in2", True)
    x = norm(conv(x, "conv3", 3, 2), "in3", True)
    for i in range(1, 6):
        r = norm(conv(x, f"res{i}.conv1", 3, 1), f"res{i}.in1", True)
        r = norm(conv(r, f"res{i}.conv2", 3, 1), f"res{i}.in2", False)
        s = name("add")
        nodes.append(helper.make_node("Add", [r, x], [s]))
        x = s
    x = norm(conv(up(x), "deconv1", 3, 1), "in4", True)
    x = norm(conv(up(x), "deconv2", 3, 1), "in5", True)
    y = conv(x, "deconv3", 9, 1)
    nodes.append(helper.make_node("Identity", [y], ["output"]))
    graph = helper.make_graph(
        nodes,
        "transformer_net_seeded",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, None, None])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, None, None])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_johnson_fixture.py")
    onnx.checker.check_model(model)
    return model


def main():
    from safetensors.numpy import load_file

    OUT.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="johnson-"))
    sd = synthesise()
    write_torch_zip(sd, tmp / "seeded.pth")
    model = onnx_graph(sd)
    onnx.save(model, tmp / "seeded.onnx")
    conv = [sys.executable, str(ROOT / "tools" / "convert_models.py"), "johnson"]
    subprocess.run(conv + [str(tmp / "seeded.pth"), str(tmp / "from_pth.safetensors")], check=True)
    subprocess.run(conv + [str(tmp / "seeded.onnx"), str(tmp / "from_onnx.safetensors")], check=True)
    subprocess.run(conv + [str(tmp / "seeded.pth"), str(OUT / "seeded.safetensors"), "--dtype", "codebook"], check=True)
    a, b = load_file(tmp / "from_pth.safetensors"), load_file(tmp / "from_onnx.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), "the .pth and .onnx conversions differ"
    c = load_file(OUT / "seeded.safetensors")
    for k in a:
        if k.endswith(".weight") and a[k].ndim == 4:
            p = k[: -len(".weight")]
            assert np.array_equal(c[p + ".weight_table"][c[p + ".weight_q"]], a[k]), f"{k}: codebook is lossy"
        else:
            assert np.array_equal(c[k], a[k]), k
    print("the .pth and .onnx conversions agree; the codebook form is exact")

    from assets import assets_dir

    photo = Image.open(assets_dir() / "coffee.png").convert("RGB")
    pw, ph = photo.size
    s = min(pw / W, ph / H)
    cw, ch = round(W * s), round(H * s)
    photo = photo.crop(((pw - cw) // 2, (ph - ch) // 2, (pw - cw) // 2 + cw, (ph - ch) // 2 + ch)).resize((W, H), Image.Resampling.LANCZOS)
    photo.save(OUT / "coffee_64x48.png")
    x = np.asarray(photo, dtype=np.float32).transpose(2, 0, 1)[None]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"input": x})
    y[0].astype("<f4").tofile(OUT / "coffee_64x48.out.f32")
    print(f"onnxruntime {ort.__version__}: output {y.shape}, range [{y.min():.1f}, {y.max():.1f}], mean {y.mean():.1f}")


if __name__ == "__main__":
    main()
