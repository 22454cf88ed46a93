#!/usr/bin/env python3
"""An independent numpy (float64) implementation of the reference Transformer forward
pass and loss, for Tests/NMTTransformerTests/TransformerParityTests.swift.

The model: V=11, H=8, 2 heads, filter 12, 2+2 layers, label smoothing 0.1. Every
parameter is filled by a formula the Swift test repeats (see `param`), in the order of
the Swift parameter names. Run: python3 Scripts/reference/transformer_reference.py
"""
import numpy as np

V, H, HEADS, F, LAYERS = 11, 8, 2, 12, 2
NEG_INF = -1e9


def names():
    out = ["embedding.weights"]
    for i in range(LAYERS):
        p = f"encoder.layers.{i}."
        out += [p + f"selfAttention.{m}.kernel" for m in ("query", "key", "value", "output")]
        out += [p + "selfAttentionNorm.scale", p + "selfAttentionNorm.bias"]
        out += [p + "feedForward.filter.kernel", p + "feedForward.filter.bias",
                p + "feedForward.output.kernel", p + "feedForward.output.bias"]
        out += [p + "feedForwardNorm.scale", p + "feedForwardNorm.bias"]
    out += ["encoder.outputNorm.scale", "encoder.outputNorm.bias"]
    for i in range(LAYERS):
        p = f"decoder.layers.{i}."
        for att in ("selfAttention", "encoderDecoderAttention"):
            out += [p + f"{att}.{m}.kernel" for m in ("query", "key", "value", "output")]
            out += [p + f"{att}Norm.scale", p + f"{att}Norm.bias"]
        out += [p + "feedForward.filter.kernel", p + "feedForward.filter.bias",
                p + "feedForward.output.kernel", p + "feedForward.output.bias"]
        out += [p + "feedForwardNorm.scale", p + "feedForwardNorm.bias"]
    out += ["decoder.outputNorm.scale", "decoder.outputNorm.bias"]
    return out


def shape_of(name):
    if name == "embedding.weights":
        return (V, H)
    if name.endswith("filter.kernel"):
        return (H, F)
    if name.endswith("filter.bias"):
        return (F,)
    if name.endswith("output.kernel") and "feedForward" in name:
        return (F, H)
    if name.endswith("kernel"):
        return (H, H)
    return (H,)


def param(name, k):
    """Element i of parameter number k: amplitude * sin(i * (0.1 + 0.037 k) + 0.3 k) + offset,
    rounded once to float32 (as the Swift side stores it)."""
    n = int(np.prod(shape_of(name)))
    i = np.arange(n, dtype=np.float64)
    amplitude = 0.1 if name.endswith(("scale", "bias")) else 0.5
    offset = 1.0 if name.endswith("scale") else 0.0
    values = amplitude * np.sin(i * (0.1 + 0.037 * k) + 0.3 * k) + offset
    return values.astype(np.float32).astype(np.float64).reshape(shape_of(name))


P = {name: param(name, k) for k, name in enumerate(names())}


def layer_norm(x, prefix):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-6) * P[prefix + ".scale"] + P[prefix + ".bias"]


def attention(x, y, bias, prefix):
    def heads(t):
        b, l, _ = t.shape
        return t.reshape(b, l, HEADS, H // HEADS).transpose(0, 2, 1, 3)
    q = heads(x @ P[prefix + ".query.kernel"]) * (H // HEADS) ** -0.5
    k = heads(y @ P[prefix + ".key.kernel"])
    v = heads(y @ P[prefix + ".value.kernel"])
    logits = q @ k.transpose(0, 1, 3, 2) + bias
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    out = (w @ v).transpose(0, 2, 1, 3).reshape(x.shape[0], x.shape[1], H)
    return out @ P[prefix + ".output.kernel"]


def ffn(x, prefix):
    h = np.maximum(x @ P[prefix + ".filter.kernel"] + P[prefix + ".filter.bias"], 0)
    return h @ P[prefix + ".output.kernel"] + P[prefix + ".output.bias"]


def position_encoding(length):
    n = H // 2
    log_inc = np.log(1e4) / (n - 1)
    inv = np.exp(np.arange(n) * -log_inc)
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1)


def embed(ids):
    return P["embedding.weights"][ids] * (ids != 0)[..., None] * np.sqrt(H)


def forward(inputs, targets):
    bias = ((inputs == 0) * NEG_INF)[:, None, None, :]
    x = embed(inputs) + position_encoding(inputs.shape[1])
    for i in range(LAYERS):
        p = f"encoder.layers.{i}."
        x = x + attention(layer_norm(x, p + "selfAttentionNorm"), layer_norm(x, p + "selfAttentionNorm"), bias,
                          p + "selfAttention")
        x = x + ffn(layer_norm(x, p + "feedForwardNorm"), p + "feedForward")
    enc = layer_norm(x, "encoder.outputNorm")

    t = targets.shape[1]
    d = embed(targets)
    d = np.concatenate([np.zeros_like(d[:, :1]), d[:, :-1]], axis=1) + position_encoding(t)
    causal = NEG_INF * (1 - np.tril(np.ones((t, t))))[None, None]
    for i in range(LAYERS):
        p = f"decoder.layers.{i}."
        y = layer_norm(d, p + "selfAttentionNorm")
        d = d + attention(y, y, causal, p + "selfAttention")
        d = d + attention(layer_norm(d, p + "encoderDecoderAttentionNorm"), enc, bias, p + "encoderDecoderAttention")
        d = d + ffn(layer_norm(d, p + "feedForwardNorm"), p + "feedForward")
    d = layer_norm(d, "decoder.outputNorm")
    return d @ P["embedding.weights"].T


def loss(logits, labels, smoothing=0.1):
    on = 1 - smoothing
    off = (1 - on) / (V - 1)
    soft = np.full(logits.shape, off)
    np.put_along_axis(soft, labels[..., None], on, axis=-1)
    shifted = logits - logits.max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    xent = -(soft * logp).sum(-1)
    constant = -(on * np.log(on) + (V - 1) * off * np.log(off + 1e-20))
    weights = (labels != 0).astype(np.float64)
    return ((xent - constant) * weights).sum() / weights.sum()


inputs = np.array([[3, 5, 7, 1, 0], [4, 9, 1, 0, 0]])
targets = np.array([[2, 6, 1, 0], [8, 3, 10, 1]])
logits = forward(inputs, targets)
print("// logits shape", list(logits.shape))
print("[" + ", ".join(f"{v:.9g}" for v in logits.ravel()) + "]")
print("// loss")
print(f"{loss(logits, targets):.9g}")
