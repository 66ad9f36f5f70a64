# Second-order (O(n^-2)) mean squared error of the logistic MLE with a fixed design,
# rows aggregated by distinct difference vector x_p with multiplicity N_p:
#   MSE = tr V + A + B + C1 + C2   (V = H^+, H = sum N_p w_p x_p x_p^T)
#   A  = - sum_pq N_p N_q mu2_p mu2_q h_pq^2 g_pq
#   B  = 1/4 sum_pq N_p N_q mu2_p mu2_q g_pq (h_pp h_qq + 2 h_pq^2)
#   C1 = sum_pq N_p N_q mu2_p mu2_q h_pq (g_pp h_qq + 2 h_pq g_pq)
#   C2 = - sum_p N_p mu3_p h_pp g_pp
# h = X V X^T, g = X V^2 X^T, mu2 = sigma''(z), mu3 = sigma'''(z) (z = theta^T x_p).
import numpy as np
def sig(t): return 1/(1+np.exp(-t))
def mse2(X, N, z):
    s = sig(z); w = s*(1-s); mu2 = w*(1-2*s); mu3 = w*(1-6*w)
    H = (X*(N*w)[:, None]).T @ X
    V = np.linalg.pinv(H, rcond=1e-10, hermitian=True)
    h = X @ V @ X.T; g = X @ (V @ V) @ X.T
    a = N*mu2
    hd = np.diag(h); gd = np.diag(g)
    A = -np.einsum('p,q,pq->', a, a, h**2*g)
    B = 0.25*(np.einsum('p,q,pq,p,q->', a, a, g, hd, hd) + 2*np.einsum('p,q,pq->', a, a, g*h**2))
    C1 = np.einsum('p,q,pq,p,q->', a, a, h, gd, hd) + 2*np.einsum('p,q,pq->', a, a, h**2*g)
    C2 = -np.sum(N*mu3*hd*gd)
    return np.trace(V), A+B+C1+C2, (A, B, C1, C2)
