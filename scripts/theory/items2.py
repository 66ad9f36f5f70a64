import numpy as np, sys
sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__))); from second_order import mse2
rng = np.random.default_rng(int(sys.argv[2]))
K = int(sys.argv[1]); m = 30; P = m*(m-1)//2
I, J = np.triu_indices(m, 1)
X = np.zeros((P, m)); X[np.arange(P), I] = 1; X[np.arange(P), J] = -1
ns = [2000, 4000, 8000, 16000, 32000]
tot = {n: [0, 0] for n in ns}
for k in range(K):
    th = rng.normal(0, 1, m); th -= th.mean(); z = X @ th
    for n in ns:
        N = rng.multinomial(n, np.full(P, 1/P)).astype(float)
        tv, corr, parts = mse2(X, N, z)
        tot[n][0] += tv; tot[n][1] += corr
lr = []
for n in ns:
    r = (tot[n][0]+tot[n][1])/tot[n][0]; lr.append(0.5*np.log(r))
    print('n=%5d  E MSE / E trV = %.5f  (c = (ratio-1) n/m = %.2f)  rms inflation %.5f' % (n, r, (r-1)*n/m, np.sqrt(r)))
print('slope bias of the rms error over n:', np.polyfit(np.log(ns), lr, 1)[0])
