#!/usr/bin/env python3
"""An independent reference for training, in JAX (XLA on the CPU, float64), written from the
definitions: the nets, VGG16 to relu4_3, and the perceptual loss (content relu3_3, style
relu1_2/relu2_2/relu3_3/relu4_3 Gram matrices normalised by C H W, total variation),
differentiated by JAX.

    .venv/bin/pip install -r tools/requirements-reference.txt
    .venv/bin/python tools/train_reference.py            # a style of the 26-style net
    .venv/bin/python tools/train_reference.py johnson    # a half-width Johnson net

Weights are read from the converted model files (models/multistyle26.safetensors,
models/vgg16.safetensors, its 8-bit codebook expanded), the same numbers the GPU uses, so the
comparison tests the training math and not the conversion. Inputs: the 64x64 crops
tests/fixtures/gatys/content.png and other.png as a batch of 2, the painting
tests/fixtures/gatys/style.png (64x51) at its own size. Adam: betas 0.9 and 0.999, eps 1e-8.

- 26-style net (Dumoulin et al.'s conditional instance norm net as docs and
  src/models/multistyle.rs describe it): the gradient with respect to the row of norm
  parameters (per norm: gamma, then beta), starting from the mean of the 26 styles, into
  tests/fixtures/train/gradient64.f32; its losses and those before each of 10 Adam steps (lr
  0.01) and after the last into reference.json.
- Johnson net (src/models/johnson.rs: PyTorch examples' TransformerNet) at half width (16
  channels in the first layer), initialised from seed 7 as the engine does (SplitMix64 uniform
  values, PyTorch's bounds 1/sqrt(fan_in), norms 1 and 0): the gradient with respect to every
  tensor, in the file's order, into johnson_gradient64.f32; losses and 10 Adam steps (lr 1e-3)
  into johnson_reference.json.
"""
import json
import pathlib
import sys

import numpy as np
from PIL import Image
from safetensors.numpy import load_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "train"
MEAN_BGR = np.array([103.939, 116.779, 123.68])
CW, SW, TVW = 1.0, 5.0, 1e-6
B1, B2, EPS = 0.9, 0.999, 1e-8
# (name, kernel, stride, activation after the norm), in network order.
NET = [("contract.0", 9, 1, "relu"), ("contract.1", 3, 2, "relu"), ("contract.2", 3, 2, "relu")]
for b in range(6):
    NET += [(f"res.{b}.0", 3, 1, "relu"), (f"res.{b}.1", 3, 1, "id")]
NET += [("expand.0", 3, 1, "relu"), ("expand.1", 3, 1, "relu"), ("expand.2", 9, 1, "sigmoid")]
# Johnson's TransformerNet at full width: (conv, in, out, kernel, stride, norm).
JOHNSON = [("conv1", 3, 32, 9, 1, "in1"), ("conv2", 32, 64, 3, 2, "in2"), ("conv3", 64, 128, 3, 2, "in3")]
for b in range(1, 6):
    JOHNSON += [(f"res{b}.conv{j}", 128, 128, 3, 1, f"res{b}.in{j}") for j in (1, 2)]
JOHNSON += [("deconv1", 128, 64, 3, 1, "in4"), ("deconv2", 64, 32, 3, 1, "in5"), ("deconv3", 32, 3, 9, 1, None)]
JOHNSON_BASE, JOHNSON_SEED = 16, 7
VGG = ["block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1",
       "block3_conv2", "block3_conv3", "block4_conv1", "block4_conv2", "block4_conv3"]
STYLE = [1, 3, 6, 9]  # relu1_2, relu2_2, relu3_3, relu4_3
CONTENT = 6  # relu3_3


def splitmix_uniform(seed, n):
    """The engine's seeded_uniform(seed, i) for i < n: SplitMix64 of seed + (i + 1) * golden
    gamma, its top 24 bits over 2^24."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def johnson_layers(base):
    scale = lambda c: 3 if c == 3 else c * base // 32  # noqa: E731
    return [(n, scale(i), scale(o), k, s, norm) for n, i, o, k, s, norm in JOHNSON]


def johnson_init(base, seed):
    """A fresh net's tensors in file order, as JohnsonNet::init makes them (f32 values)."""
    layers = johnson_layers(base)
    count = sum(o * i * k * k + o for _, i, o, k, _, _ in layers)
    u = splitmix_uniform(seed, count).astype(np.float32)
    tensors, at = [], 0
    for _, i, o, k, _, norm in layers:
        bound = np.float32(1.0) / np.sqrt(np.float32(i * k * k))
        for shape in ((o, i, k, k), (o,)):
            n = int(np.prod(shape))
            tensors.append(((np.float32(2.0) * u[at:at + n] - np.float32(1.0)) * bound).reshape(shape))
            at += n
        if norm:
            tensors += [np.ones(o, np.float32), np.zeros(o, np.float32)]
    return [t.astype(np.float64) for t in tensors]


class Loss:
    """VGG16 features, Gram matrices and the perceptual loss of a batch of photos through a
    transform net `transform(x, params)`, its input and output in the range `scale` (1 or 255),
    computed in `dtype` (float64; float32 to measure what single precision alone costs)."""

    def __init__(self, jax, transform, scale, dtype=np.float64):
        import jax.numpy as jnp
        from jax import lax
        self.jnp, self.lax, self.transform, self.scale = jnp, lax, transform, scale
        self.mean = MEAN_BGR.astype(dtype)
        vgg_file = load_file(ROOT / "models" / "vgg16.safetensors")
        self.vgg = [(vgg_file[f"{n}.weight_table"].astype(dtype)[vgg_file[f"{n}.weight_q"]],
                     vgg_file[f"{n}.bias"].astype(dtype)) for n in VGG]
        self.photos = [(png("content.png") * scale).astype(dtype), (png("other.png") * scale).astype(dtype)]
        self.targets = [self.gram(self.features(self.to_vgg((png("style.png") * scale).astype(dtype)))[i]) for i in STYLE]
        self.contents = [self.features(self.to_vgg(p))[CONTENT] for p in self.photos]
        self.value_and_grad = jax.jit(jax.value_and_grad(lambda p: self.terms(p).sum()))
        self.jit_terms = jax.jit(self.terms)

    def conv(self, x, w, stride, pad, mode):
        x = self.jnp.pad(x, ((0, 0), (pad, pad), (pad, pad)), mode=mode)
        return self.lax.conv_general_dilated(x[None], self.jnp.asarray(w, x.dtype), (stride, stride), "VALID",
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"))[0]

    def to_vgg(self, rgb):
        return rgb[::-1] * (255.0 / self.scale) - self.jnp.asarray(self.mean)[:, None, None]

    def features(self, x):
        out, h = [], x
        for i, (w, b) in enumerate(self.vgg):
            if i in (2, 4, 7):
                h = self.lax.reduce_window(h, -self.jnp.inf, self.lax.max, (1, 2, 2), (1, 2, 2), "VALID")
            h = self.jnp.maximum(self.conv(h, w, 1, 1, "constant") + b[:, None, None], 0.0)
            out.append(h)
        return out

    @staticmethod
    def gram(f):
        m = f.reshape(f.shape[0], -1)
        return m @ m.T / f.size

    def terms(self, params):
        jnp = self.jnp
        c = s = tv = 0.0
        for p, fc in zip(self.photos, self.contents):
            y = self.to_vgg(self.transform(jnp.asarray(p), params))
            f = self.features(y)
            c += CW * jnp.mean((f[CONTENT] - fc) ** 2)
            s += sum(SW * jnp.mean((self.gram(f[i]) - t) ** 2) for i, t in zip(STYLE, self.targets))
            tv += TVW * 0.5 * (jnp.sum((y[:, :-1, :-1] - y[:, :-1, 1:]) ** 2)
                               + jnp.sum((y[:, :-1, :-1] - y[:, 1:, :-1]) ** 2))
        n = len(self.photos)
        return jnp.stack([c / n, s / n, tv / n])

    def adam(self, params, lr, steps=10):
        """The losses before each of `steps` Adam steps and after the last."""
        trajectory = []
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        for t in range(1, steps + 1):
            trajectory.append([float(x) for x in self.jit_terms(params)])
            _, g = self.value_and_grad(params)
            new = []
            for i, (p, gi) in enumerate(zip(params, g)):
                gi = np.asarray(gi)
                m[i] = B1 * m[i] + (1 - B1) * gi
                v[i] = B2 * v[i] + (1 - B2) * gi * gi
                new.append(p - lr * (m[i] / (1 - B1 ** t)) / (np.sqrt(v[i] / (1 - B2 ** t)) + EPS))
            params = new
        trajectory.append([float(x) for x in self.jit_terms(params)])
        return trajectory


def png(name):
    return np.asarray(Image.open(ROOT / "tests/fixtures/gatys" / name).convert("RGB"), np.float64).transpose(2, 0, 1) / 255.0


def instance_norm(jnp, y, g, b):
    mean = y.mean(axis=(1, 2), keepdims=True)
    var = ((y - mean) ** 2).mean(axis=(1, 2), keepdims=True)
    return g[:, None, None] * (y - mean) / jnp.sqrt(var + 1e-5) + b[:, None, None]


def up2(jnp, h):
    return jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)


def write(prefix, lr, first, gradient, trajectory, extra=None):
    OUT.mkdir(parents=True, exist_ok=True)
    np.asarray(gradient, np.float32).tofile(OUT / f"{prefix}gradient64.f32")
    (OUT / f"{prefix}reference.json").write_text(json.dumps({
        "losses": {"content": float(first[0]), "style": float(first[1]), "tv": float(first[2])},
        "adam": {"learning_rate": lr, "beta1": B1, "beta2": B2, "eps": EPS},
        "trajectory": [{"content": c, "style": s, "tv": tv} for c, s, tv in trajectory],
        **(extra or {}),
    }, indent=1) + "\n")
    print("losses", first, "|grad|max", float(np.abs(gradient).max()))
    for i, t in enumerate(trajectory):
        print(i, t)


def multistyle(jax):
    import jax.numpy as jnp
    net = load_file(ROOT / "models" / "multistyle26.safetensors")
    sizes = [net[f"{n}.w"].shape[0] for n, *_ in NET]
    row0 = np.concatenate([np.concatenate([net[f"{n}.norm.gamma"].astype(np.float64).mean(0),
                                           net[f"{n}.norm.beta"].astype(np.float64).mean(0)])
                           for n, *_ in NET])

    def transform(x, trained):
        row = trained[0]  # the one trained vector (Loss takes a list of them)
        params, at = [], 0
        for c in sizes:
            params.append((row[at:at + c], row[at + c:at + 2 * c]))
            at += 2 * c

        def layer(i, h):
            name, k, stride, act = NET[i]
            y = loss.conv(h, net[f"{name}.w"].astype(np.float64), stride, k // 2, "reflect")
            y = instance_norm(jnp, y, *params[i])
            return {"relu": lambda v: jnp.maximum(v, 0.0), "id": lambda v: v,
                    "sigmoid": jax.nn.sigmoid}[act](y)

        h = layer(2, layer(1, layer(0, x)))
        for b in range(6):
            h = h + layer(4 + 2 * b, layer(3 + 2 * b, h))
        for i in (15, 16):
            h = layer(i, up2(jnp, h))
        return layer(17, h)

    loss = Loss(jax, transform, 1.0)
    params = [jnp.asarray(row0)]
    _, (g0,) = loss.value_and_grad(params)
    write("", 0.01, np.asarray(loss.jit_terms(params)), g0, loss.adam([row0], 0.01))


def johnson(jax):
    import jax.numpy as jnp
    layers = johnson_layers(JOHNSON_BASE)

    def transform(x, params):
        it = iter(params)

        def layer(i, h, relu):
            _, _, _, k, stride, norm = layers[i]
            w, b = next(it), next(it)
            y = loss.conv(h, w, stride, k // 2, "reflect") + b[:, None, None]
            if norm:
                y = instance_norm(jnp, y, next(it), next(it))
            return jnp.maximum(y, 0.0) if relu else y

        h = layer(2, layer(1, layer(0, x, True), True), True)
        for b in range(5):
            h = h + layer(4 + 2 * b, layer(3 + 2 * b, h, True), False)
        for i in (13, 14):
            h = layer(i, up2(jnp, h), True)
        return layer(15, h, False)

    loss = Loss(jax, transform, 255.0)
    params = johnson_init(JOHNSON_BASE, JOHNSON_SEED)
    first = np.asarray(loss.jit_terms(params))
    _, g = loss.value_and_grad(params)
    gradient = np.concatenate([np.asarray(t).ravel() for t in g])
    # The same gradient in float32 (XLA): how far single precision alone lands from float64,
    # tensor by tensor (largest error over the tensor's largest value, and relative L2 error).
    loss32 = Loss(jax, transform, 255.0, np.float32)
    _, g32 = loss32.value_and_grad([p.astype(np.float32) for p in params])
    names = [n for n, _ in johnson_specs(JOHNSON_BASE)]
    f32_error = {}
    for name, r, q in zip(names, g, g32):
        r, q = np.asarray(r).ravel(), np.asarray(q, np.float64).ravel()
        f32_error[name] = {"max_share": float(np.abs(r - q).max() / max(np.abs(r).max(), 1e-300)),
                           "rel_l2": float(np.linalg.norm(r - q) / max(np.linalg.norm(r), 1e-300))}
    write("johnson_", 1e-3, first, gradient, loss.adam(params, 1e-3), {"float32_error": f32_error})


def johnson_specs(base):
    """Tensor names and shapes in file order (the engine's johnson::tensor_specs)."""
    specs = []
    for name, i, o, k, _, norm in johnson_layers(base):
        specs += [(f"{name}.weight", (o, i, k, k)), (f"{name}.bias", (o,))]
        if norm:
            specs += [(f"{norm}.weight", (o,)), (f"{norm}.bias", (o,))]
    return specs


def main():
    import jax

    jax.config.update("jax_enable_x64", True)
    {"johnson": johnson}.get(sys.argv[1] if len(sys.argv) > 1 else "", multistyle)(jax)


if __name__ == "__main__":
    main()
