#!/usr/bin/python3
"""rDPO's sandwich scale against the feature dimension d (experiments/rdpo_dim.ini).

Design: pair differences x ~ N(0, 2 I_d), ||theta*|| = 1, so z = theta*.x ~ N(0, 2) for
every d.  In the basis (theta*, its complement) the label-free Hessian per row is
I0/n = diag(a, b, ..., b), a = E[sigma'(z) z^2], b = 2 E[sigma'(z)] (z and the
complement's coordinates are independent), and S/n = E[x x^T] = 2 I.  With
kappa = eps (1 - eps) / (1 - 2 eps)^2:
  n beta^2 err^2 = tr (I0/n)^-1 + kappa tr((I0/n)^-1 (S/n) (I0/n)^-1)
                 = (1/a + 2 kappa/a^2) + (d - 1)(1/b + 2 kappa/b^2),
affine in d.  Prints a, b, the sandwich at n = 16000, beta = 0.1, its OLS log-log slope
over d = 2..32, the design note's recalled constant sqrt(tr I0^-1)/((1 - 2 eps) beta)
relative to it (the ratio claims' alternatives), and the slope shift of a finite-sample
inflation 1 + c d/(2n) of the rms error.
"""
import numpy as np
from scipy import integrate

S2, EPS, N, BETA = 2.0, 0.2, 16000, 0.1
D = np.array([2, 4, 8, 16, 32.0])


def sig(z):
    return 1 / (1 + np.exp(-z))


def sp(z):
    return sig(z) * (1 - sig(z))


def pdf(z):
    return np.exp(-z * z / (2 * S2)) / np.sqrt(2 * np.pi * S2)


a = integrate.quad(lambda z: sp(z) * z * z * pdf(z), -40, 40)[0]
b = S2 * integrate.quad(lambda z: sp(z) * pdf(z), -40, 40)[0]
kappa = EPS * (1 - EPS) / (1 - 2 * EPS) ** 2
tr = 1 / a + (D - 1) / b
tr2 = S2 / a**2 + S2 * (D - 1) / b**2
sandwich = np.sqrt(tr + kappa * tr2)
naive = np.sqrt(tr) / (1 - 2 * EPS)
print(f"a = {a:.4f}, b = {b:.4f}, kappa = {kappa:.4f}")
print("sandwich (n = 16000, beta = 0.1):", np.round(sandwich / np.sqrt(N) / BETA, 4))
print(f"log-log slope over d = 2..32: {np.polyfit(np.log(D), np.log(sandwich), 1)[0]:.4f}")
print("naive / sandwich:", np.round(naive / sandwich, 4))
for c in (17.5, 25, 40):
    shift = np.polyfit(np.log(D), np.log(1 + c * D / (2 * N)), 1)[0]
    print(f"c = {c}: rms inflation {np.round(c * D / (2 * N), 4)}, slope shift {shift:.4f}")
