# Second-order MSE of an M-estimator with a fixed design whose Hessian weights w(z) =
# sigma'(z) do not depend on the labels (logistic MLE, DPO, cDPO, rDPO), score noise
# xi_i with variance v_i and third cumulant k3_i (rows with multiplicity N_p):
#   MSE = tr S1 + A + B + C1 + C2, S1 = V Omega V, V = H^+, Omega = sum N v x x^T
#   A  = - sum_pq a_p (N k3)_q h_pq^2 g_pq            (a = N mu2, mu2 = sigma'')
#   B  = 1/4 sum_pq a_p a_q g_pq (s_pp s_qq + 2 s_pq^2)
#   C1 = sum_pq a_p a_q h_pq (t_pp s_qq + 2 s_pq t_qp)
#   C2 = - sum_p N_p mu3_p s_pp t_pp
# h = X V X^T, g = X V^2 X^T, s = X S1 X^T, t = X S1 V X^T (t_qp = x_q^T S1 V x_p).
# The expansion is around the estimator's own population target (z = its margins).
import numpy as np
def sig(t): return 1/(1+np.exp(-t))
def mse2g(X, N, z, v, k3):
    s_ = sig(z); w = s_*(1-s_); mu2 = w*(1-2*s_); mu3 = w*(1-6*w)
    H = (X*(N*w)[:, None]).T @ X
    V = np.linalg.pinv(H, rcond=1e-10, hermitian=True)
    Om = (X*(N*v)[:, None]).T @ X
    S1 = V @ Om @ V
    h = X @ V @ X.T; g = X @ (V @ V) @ X.T; s = X @ S1 @ X.T; t = X @ (S1 @ V) @ X.T
    a = N*mu2; b3 = N*k3
    sd = np.diag(s); td = np.diag(t)
    A = -np.einsum('p,q,pq->', a, b3, h**2*g)
    B = 0.25*(np.einsum('p,q,pq,p,q->', a, a, g, sd, sd) + 2*np.einsum('p,q,pq->', a, a, g*s**2))
    C1 = np.einsum('p,q,pq,p,q->', a, a, h, td, sd) + 2*np.einsum('p,q,pq,qp->', a, a, h*s, t)
    C2 = -np.sum(N*mu3*sd*td)
    return np.trace(S1), A+B+C1+C2
