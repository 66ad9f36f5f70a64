import numpy as np, sys
sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__))); from second_order import mse2
rng = np.random.default_rng(3)
a=0.18158092301581533; b=0.10042342401859844
for d, n, K in [(32, 2000, 20), (16, 2000, 20), (8, 1000, 40)]:
    tv=cr=0; pop=((d-1)/a+1/b)/(2*n)
    for k in range(K):
        th = rng.normal(size=d); th /= np.linalg.norm(th)
        X = rng.normal(size=(n, d))*np.sqrt(2)
        t, c, _ = mse2(X, np.ones(n), X@th); tv += t; cr += c
    print('d=%d n=%d: E trV/pop %.4f, (E MSE/E trV - 1)/kappa = %.2f, (E MSE/pop - 1)/kappa = %.2f' % (d, n, tv/K/pop, cr/tv*n/d, ((tv+cr)/K/pop-1)*n/d))
