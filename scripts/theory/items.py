# Asymptotic (first-order, conditional on the realised pair counts) error scales of
# item-BT estimators: MLE (tr L^+), Rank Centrality and one-step LSR (sandwich of
# their stationary-distribution estimating equations), and the null-information L(0).
import numpy as np, sys
rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
m = 30; P = m*(m-1)//2
I, J = np.triu_indices(m, 1)
sig = lambda t: 1/(1+np.exp(-t))
def one(n):
    th = rng.normal(0, 1, m); th -= th.mean()
    N = rng.multinomial(n, np.full(P, 1/P)).astype(float)
    s = sig(th[I]-th[J]); w = s*(1-s)
    def lap(wt):
        L = np.zeros((m, m)); np.add.at(L, (I, J), -wt); np.add.at(L, (J, I), -wt)
        L[np.arange(m), np.arange(m)] = -L.sum(1); return L
    trL = np.trace(np.linalg.pinv(lap(N*w)))
    trL0 = np.trace(np.linalg.pinv(lap(N*0.25)))
    pi = np.exp(th)
    res = [trL, trL0]
    for weight in ['rc', 'lsr']:
        c = np.ones(P) if weight == 'rc' else N          # F_i = sum_j c_ij [pi_j w_ij - pi_i w_ji]
        keep = N > 0
        # Jacobian at the truth (w -> sigma): dF_i/dtheta_k = c_ik pi_k sigma_ik (k != i), diag -pi_i sum c_ij sigma_ji
        Jm = np.zeros((m, m))
        sij = s; sji = 1-s
        Jm[I[keep], J[keep]] += c[keep]*pi[J[keep]]*sij[keep]
        Jm[J[keep], I[keep]] += c[keep]*pi[I[keep]]*sji[keep]
        np.add.at(Jm, (I[keep], I[keep]), -c[keep]*pi[I[keep]]*sji[keep])
        np.add.at(Jm, (J[keep], J[keep]), -c[keep]*pi[J[keep]]*sij[keep])
        # Cov F = sum_pairs c^2 (pi_i + pi_j)^2 w / N (e_i - e_j)(e_i - e_j)^T
        cf = c[keep]**2*(pi[I[keep]]+pi[J[keep]])**2*w[keep]/N[keep]
        CF = np.zeros((m, m)); np.add.at(CF, (I[keep], J[keep]), -cf); np.add.at(CF, (J[keep], I[keep]), -cf)
        CF[np.arange(m), np.arange(m)] = -CF.sum(1)
        A = np.linalg.pinv(np.vstack([Jm, np.ones(m)]))[:, :m]
        res.append(np.trace(A@CF@A.T))
    return res
K = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
for n in [int(x) for x in (sys.argv[3].split(",") if len(sys.argv) > 3 else ["2000","32000"])]:
    R = np.array([one(n) for _ in range(K)])
    mL, mL0, mrc, mlsr = R.mean(0)
    print('n=%d  sqrt(E trL0+/E trL+)=%.4f  RC/MLE=%.4f  LSR/MLE=%.4f   (sd over draws of per-draw RC ratio %.4f)' % (
        n, np.sqrt(mL0/mL), np.sqrt(mrc/mL), np.sqrt(mlsr/mL), np.sqrt(R[:,2]/R[:,0]).std()))
