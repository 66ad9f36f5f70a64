import numpy as np, sys
sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__))); import mixirr; from mixirr import solve, mixture_peff, th, W, X1, X2, sig, d
from sc import solve as scsolve
from scipy.stats import binom
g = np.sqrt(32.0)
cache = {}
def Rsc(k):
    k = round(k, 7)
    if k not in cache:
        sol, ier, a0 = scsolve(k, g); al, s, lam = sol; cache[k] = ((al-1)**2*g**2 + k*s**2)/(k/a0)
    return cache[k]
def peff_parts(w):
    ws = [1-w, w]; sk = [sig(t[0]*X1 + t[1]*X2) for t in th]
    P = ws[0]*sk[0] + ws[1]*sk[1]; q = P*(1-P); out = []
    for k in range(2):
        sp = sk[k]*(1-sk[k])
        def mom(gg):
            M = np.array([[(W*gg*X1*X1).sum(), (W*gg*X1*X2).sum()], [(W*gg*X1*X2).sum(), (W*gg*X2*X2).sum()]])
            return M, 2*(W*gg).sum()
        As, Ao = mom(sp**2/q); Is, Io = mom(sp)
        out.append(ws[k]*(np.trace(np.linalg.solve(Is, As)) + (d-2)*Ao/Io))
    return out
Hs = np.array([50, 100, 200, 400, 800]); ns = 40*Hs
first, second = [], []
for H, n in zip(Hs, ns):
    k = np.arange(1, H); p = binom.pmf(k, H, 0.4); p /= p.sum(); w = k/H
    sel = p > 1e-6; e1 = e2 = 0
    for wi, pi in zip(w[sel], p[sel]):
        a0, a1 = peff_parts(wi)
        e1 += pi*(a0 + a1)/(2*n)
        e2 += pi*(a0*Rsc(d/(n*(1-wi))) + a1*Rsc(d/(n*wi)))/(2*n)
    first.append(e1); second.append(e2)
    print('H=%d n=%d  first-order %.3e  with SC inflation %.3e  (x%.4f)  p_eff(first)=%.3f' % (H, n, e1, e2, e2/e1, e1*2*n))
print('slope first-order %.4f, with SC %.4f' % (np.polyfit(np.log(Hs), np.log(first), 1)[0], np.polyfit(np.log(Hs), np.log(second), 1)[0]))
