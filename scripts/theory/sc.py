# Sur & Candes (2019, PNAS) proportional-regime system for the logistic MLE,
# x ~ N(0, I_p), ||beta|| = gamma, kappa = p/n.  Returns alpha, sigma, lambda.
import numpy as np
from scipy.optimize import fsolve
from numpy.polynomial.hermite_e import hermegauss
xg, wg = hermegauss(120); wg = wg/wg.sum()
G1, G2 = np.meshgrid(xg, xg, indexing='ij'); W = np.outer(wg, wg)
sig = lambda t: 0.5*(1+np.tanh(t/2))
def prox(z, lam):
    t = z.copy()
    for _ in range(60):
        f = t + lam*sig(t) - z
        t = t - f/(1 + lam*sig(t)*(1-sig(t)))
    return t
def eqs(v, kappa, gamma):
    a, s, lam = v
    Q1 = gamma*G1; Q2 = -a*gamma*G1 + np.sqrt(kappa)*abs(s)*G2
    p = prox(Q2, lam); r1 = sig(Q1)
    e1 = (W*2*r1*(lam*sig(p))**2).sum() - kappa**2*s**2
    e2 = (W*r1*Q1*lam*sig(p)).sum()
    e3 = (W*2*r1/(1+lam*sig(p)*(1-sig(p)))).sum() - (1-kappa)
    return [e1, e2, e3]
def solve(kappa, gamma, guess=None):
    Z = gamma*xg; a0 = (wg*sig(Z)*(1-sig(Z))).sum()
    if guess is None: guess = [1.0, np.sqrt(1/a0), kappa/(a0*(1-kappa))*0+1/(a0)*kappa]
    sol, info, ier, msg = fsolve(eqs, guess, args=(kappa, gamma), full_output=True, xtol=1e-13)
    return sol, ier, a0
if __name__ == '__main__':
    gamma = np.sqrt(2.0)
    g = None
    for kappa in [1e-4, 1e-3, 2e-3, 4e-3, 8e-3, 0.016, 0.032]:
        sol, ier, a0 = solve(kappa, gamma, g); g = sol
        a, s, lam = sol
        mse = (a-1)**2*gamma**2 + kappa*s**2
        print(kappa, ier, a, s, lam, 'R=', mse/(kappa/a0), '(R-1)/kappa=', (mse/(kappa/a0)-1)/kappa)
