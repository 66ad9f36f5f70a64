# Pooled BT on a 2-type user mixture (mixture_irreducible.ini): population pseudo-true,
# irreducible excess E_irr, the mean-reward fit's excess, and the estimation part
# tr(Hbar^-1 Omega_c)/(2n) with the between-user (cluster) term of 40 comparisons/user.
import numpy as np, sys
from numpy.polynomial.hermite_e import hermegauss
from scipy.optimize import minimize
xg, wg = hermegauss(80); wg /= wg.sum()
G1, G2 = np.meshgrid(xg, xg, indexing='ij'); W = np.outer(wg, wg)
s2 = np.sqrt(2.0)           # x = phi_a - phi_b ~ N(0, 2 I)
X1, X2 = s2*G1, s2*G2       # coordinates of x on (u, v)
R, a, d, per = 4.0, np.deg2rad(150), 6, 40
th = [np.array([R, 0.0]), np.array([R*np.cos(a), R*np.sin(a)])]
sig = lambda t: 1/(1+np.exp(-t))
def kl(p, q): return p*np.log(p/q) + (1-p)*np.log((1-p)/(1-q))
def solve(w):
    ws = [1-w, w]; sk = [sig(t[0]*X1 + t[1]*X2) for t in th]
    P = ws[0]*sk[0] + ws[1]*sk[1]
    f = lambda t: (W*kl(P, np.clip(sig(t[0]*X1+t[1]*X2), 1e-300, 1-1e-16))).sum()
    r = minimize(f, (ws[0]*th[0]+ws[1]*th[1])*0.5, method='Nelder-Mead', options=dict(xatol=1e-10, fatol=1e-14, maxiter=20000))
    t = r.x; st = sig(t[0]*X1+t[1]*X2)
    E_irr = r.fun
    tm = ws[0]*th[0]+ws[1]*th[1]; E_mean = f(tm)
    # Hbar and Omega_c on span{u,v} (2x2) and the orthogonal block (scalar x I_{d-2})
    wgt = st*(1-st)
    def mom(g):   # E[g x x^T] on span, and E[g]*2 on the orthogonal block
        M = np.array([[(W*g*X1*X1).sum(), (W*g*X1*X2).sum()], [(W*g*X1*X2).sum(), (W*g*X2*X2).sum()]])
        return M, 2*(W*g).sum()
    Hs, Ho = mom(wgt)
    within = ws[0]*sk[0]*(1-sk[0]) + ws[1]*sk[1]*(1-sk[1]) + ws[0]*(sk[0]-st)**2 + ws[1]*(sk[1]-st)**2
    Os, Oo = mom(within)
    mk = [np.array([(W*(s-st)*X1).sum(), (W*(s-st)*X2).sum()]) for s in sk]
    Os = Os - sum(ws[k]*np.outer(mk[k], mk[k]) for k in range(2)) + per*sum(ws[k]*np.outer(mk[k], mk[k]) for k in range(2))
    d_eff = np.trace(np.linalg.solve(Hs, Os)) + (d-2)*Oo/Ho
    d_eff_nocluster = np.trace(np.linalg.solve(Hs, mom(within)[0])) + (d-2)*Oo/Ho
    return E_irr, E_mean, t, d_eff, d_eff_nocluster, sum(ws[k]*(mk[k]@mk[k]) for k in range(2))
if __name__ == '__main__':
    for w in [0.3, 0.35, 0.4, 0.45, 0.5]:
        E, Em, t, de, de0, mm = solve(w)
        print('w=%.2f E_irr=%.5f E_mean=%.5f theta_bt=%s |theta|=%.3f d_eff=%.2f (no cluster %.2f)' % (w, E, Em, t.round(3), np.linalg.norm(t), de, de0))

def mixture_peff(w):
    """p_eff with E excess of the well-specified K = 2 mixture = p_eff/(2n), users
    classified exactly (shares exact): sum_k w_k tr(E[s'_k^2 x x^T / (P(1-P))] E[s'_k x x^T]^-1)."""
    ws = [1-w, w]; sk = [sig(t[0]*X1 + t[1]*X2) for t in th]
    P = ws[0]*sk[0] + ws[1]*sk[1]; q = P*(1-P)
    tot = 0
    for k in range(2):
        sp = sk[k]*(1-sk[k])
        def mom(g):
            M = np.array([[(W*g*X1*X1).sum(), (W*g*X1*X2).sum()], [(W*g*X1*X2).sum(), (W*g*X2*X2).sum()]])
            return M, 2*(W*g).sum()
        As, Ao = mom(sp**2/q); Is, Io = mom(sp)
        tot += ws[k]*(np.trace(np.linalg.solve(Is, As)) + (d-2)*Ao/Io)
    return tot
