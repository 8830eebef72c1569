#!/usr/bin/env python3
"""Prints the polynomial coefficients of the CPU runtime's vectorised math functions
(runtime/lib/cpu/ElementwiseLoops.cpp) as C++ hex-float arrays, and their error bounds.

All are evaluated in double and rounded once to float, so each needs a relative error well
below float's half-ulp (2^-24 ~ 6e-8):
  exp:   e^r on |r| <= ln2/2, Taylor degree 10            (truncation ~ 2e-13)
  expm1: e^y - 1 = y * sum y^k/(k+1)! on 0 <= y < 1, degree 13 in all
  erf:   |x| < 1: x * sum c_k x^2k, Taylor to k = 12      (truncation ~ 7e-12)
         1 <= |x| <= 4: a degree-18 polynomial in u = (|x| - 2.5) / 1.5, Chebyshev
         interpolation of erf (absolute error printed below; erf(4) rounds to 1.0f)
Run: python3 scripts/fit-math-polynomials.py   (numpy, mpmath)
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 50


def hexd(v):
    return float(v).hex()


def emit(name, coeffs):
    body = ",\n    ".join(hexd(c) for c in coeffs)
    print(f"constexpr double {name}[{len(coeffs)}] = {{\n    {body}}};")


# ln 2 split for the reduction r = x - n ln2 (fma makes n * hi exact).
ln2 = mp.log(2)
hi = float(ln2)
lo = float(ln2 - mp.mpf(hi))
print(f"// ln2 = {hexd(hi)} + {hexd(lo)}; log2(e) = {hexd(1 / ln2)}")

# Highest power first (Horner order).
emit("kExpTaylor", [1 / mp.factorial(k) for k in range(10, -1, -1)])
emit("kExpm1Taylor", [1 / mp.factorial(k + 1) for k in range(12, -1, -1)])
emit("kErfSmall",
     [2 / mp.sqrt(mp.pi) * (-1) ** k / (mp.factorial(k) * (2 * k + 1)) for k in range(12, -1, -1)])

# erf on [1, 4]: interpolation at the Chebyshev nodes of u in [-1, 1], then monomials in u.
deg, a, b = 18, 1.0, 4.0
k = np.arange(deg + 1)
u = np.cos(np.pi * (k + 0.5) / (deg + 1))
y = [float(mp.erf(mp.mpf((a + b) / 2 + (b - a) / 2 * uu))) for uu in u]
cheb = np.polynomial.chebyshev.chebfit(u, y, deg)
mono = np.polynomial.chebyshev.cheb2poly(cheb)
emit("kErfLarge", list(mono[::-1]))
xs = np.linspace(a, b, 4001)
p = np.polynomial.polynomial.polyval((xs - 2.5) / 1.5, mono)
err = max(abs(p[i] - float(mp.erf(mp.mpf(xs[i])))) for i in range(len(xs)))
print(f"// erf on [1, 4]: max absolute error {err:.2e}")
