#!/usr/bin/env python3
"""Reference values for Tests/NMTLayersTests/OptimizerReferenceTests.swift, in float64.

AdamW: TF1 Adam (lr_t = lr*sqrt(1-b2^t)/(1-b1^t), epsilon outside the square root) after
decoupled weight decay theta *= (1 - lr*wd) on matrices only (Loshchilov & Hutter 2019,
decay scaled by the schedule's rate as PyTorch's AdamW).

Adafactor: Shazeer & Stern 2018 with the Tensor2Tensor defaults: decay 1 - t^-0.8,
eps1 = 1e-30 added to g^2, factored second moments for matrices (row and column means,
V = vr vc^T / mean(vr)), update clipping at RMS 1, step min(1e-2, 1/sqrt(t)) times
max(1e-3, RMS(theta)), no momentum; and a second run with beta1 = 0.9 and the schedule's
learning rate instead of the relative step.
"""
import numpy as np

W0 = np.array([[0.5, -0.3, 0.8, 0.1], [-0.6, 0.2, 0.05, -0.9], [0.3, 0.7, -0.4, 0.25]])
B0 = np.array([0.1, -0.2, 0.3, 0.05])
GW = [np.array([[0.2, -0.1, 0.05, 0.3], [0.0, 0.4, -0.2, 0.1], [-0.3, 0.15, 0.25, -0.05]]),
      np.array([[-0.1, 0.2, 0.3, -0.2], [0.25, -0.05, 0.1, 0.0], [0.1, -0.3, 0.05, 0.2]]),
      np.array([[0.05, 0.05, -0.4, 0.1], [-0.2, 0.3, 0.0, 0.15], [0.2, 0.1, -0.1, -0.25]])]
GB = [np.array([0.3, -0.1, 0.2, 0.0]), np.array([-0.2, 0.4, 0.1, 0.05]), np.array([0.1, 0.1, -0.3, 0.2])]
LR = [0.05, 0.04, 0.03]


def fmt(a):
    return ", ".join(f"{x:.9g}" for x in np.asarray(a).ravel())


def adamw(wd=0.1, b1=0.9, b2=0.997, eps=1e-9):
    params = {"w": W0.copy(), "b": B0.copy()}
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    for t in range(1, 4):
        lr = LR[t - 1]
        lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        for k, g in (("w", GW[t - 1]), ("b", GB[t - 1])):
            m[k] = m[k] + (g - m[k]) * (1 - b1)
            v[k] = v[k] + (g * g - v[k]) * (1 - b2)
            decay = 1 - lr * wd if params[k].ndim >= 2 else 1.0
            params[k] = params[k] * decay - lr_t * m[k] / (np.sqrt(v[k]) + eps)
        print(f"AdamW step {t}: w = [{fmt(params['w'])}]")
        print(f"AdamW step {t}: b = [{fmt(params['b'])}]")


def rms(x):
    return np.sqrt(np.mean(x * x))


def adafactor(beta1=0.0, relative_step=True):
    params = {"w": W0.copy(), "b": B0.copy()}
    vr, vc = np.zeros(3), np.zeros(4)
    vb = np.zeros(4)
    m = {k: np.zeros_like(p) for k, p in params.items()}
    for t in range(1, 4):
        decay = 1 - t ** -0.8
        rho = min(1e-2, 1 / np.sqrt(t)) if relative_step else LR[t - 1]
        for k, g in (("w", GW[t - 1]), ("b", GB[t - 1])):
            p = params[k]
            scale = rho * max(1e-3, rms(p))
            g2 = g * g + 1e-30
            if p.ndim == 2:
                vr = decay * vr + (1 - decay) * g2.mean(axis=1)
                vc = decay * vc + (1 - decay) * g2.mean(axis=0)
                u = g * (1 / np.sqrt(vr / vr.mean()))[:, None] * (1 / np.sqrt(vc))[None, :]
            else:
                vb = decay * vb + (1 - decay) * g2
                u = g / np.sqrt(vb)
            u = u / max(1.0, rms(u) / 1.0)
            step = scale * u
            if beta1 > 0:
                m[k] = beta1 * m[k] + (1 - beta1) * step
                step = m[k]
            params[k] = p - step
        name = f"Adafactor(beta1={beta1}, relative={relative_step})"
        print(f"{name} step {t}: w = [{fmt(params['w'])}]")
        print(f"{name} step {t}: b = [{fmt(params['b'])}]")
    print(f"  vr = [{fmt(vr)}], vc = [{fmt(vc)}]")


adamw()
adafactor()
adafactor(beta1=0.9, relative_step=False)
