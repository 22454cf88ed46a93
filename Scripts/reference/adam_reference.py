#!/usr/bin/env python3
"""Reference values for Tests/NMTLayersTests/OptimizerTests.swift: TF1 Adam
(lr_t = lr*sqrt(1-b2^t)/(1-b1^t), epsilon outside the square root), in float64."""
import numpy as np

b1, b2, eps, lr = 0.9, 0.997, 1e-9, 0.1
theta = np.array([1.0, -2.0, 0.5])
m = np.zeros(3)
v = np.zeros(3)
grads = [np.array([0.5, -0.2, 0.1]), np.array([-0.3, 0.4, 0.0]), np.array([0.2, 0.1, -1.0])]
for t, g in enumerate(grads, start=1):
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    theta = theta - lr_t * m / (np.sqrt(v) + eps)
    print(f"step {t}: theta = [{', '.join(f'{x:.8f}' for x in theta)}]")
