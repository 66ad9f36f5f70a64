import numpy as np, sys
sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__))); from mixirr import solve
from scipy.stats import binom
ws = np.linspace(0.15, 0.65, 26)
tab = np.array([solve(w)[:4:3] if False else (solve(w)[0], solve(w)[4]) for w in ws])
Eirr = lambda w: np.interp(w, ws, tab[:,0]); Deff = lambda w: np.interp(w, ws, tab[:,1])
Hs = np.array([50,100,200,400,800]); ns = 40*Hs
pred=[]
for H, n in zip(Hs, ns):
    k = np.arange(H+1); p = binom.pmf(k, H, 0.4); w = k/H
    mask = p > 1e-12
    e = (p[mask]*(Eirr(w[mask]) + Deff(w[mask])/(2*n))).sum()/p[mask].sum()
    pred.append(e)
    print('H=%d n=%d  E[E_irr(w)]=%.5f  estimation=%.5f  mean excess=%.5f' % (H, n, (p[mask]*Eirr(w[mask])).sum()/p[mask].sum(), (p[mask]*Deff(w[mask])).sum()/p[mask].sum()/(2*n), e))
print('predicted slope of log mean excess over annotators:', np.polyfit(np.log(Hs), np.log(pred), 1)[0])
