import numpy as np, sys
sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__))); from second_order_gen import mse2g, sig
from numpy.polynomial.hermite_e import hermegauss
rng=np.random.default_rng(int(sys.argv[1])); d=8
xg,wg=hermegauss(200); wg/=wg.sum(); Z=np.sqrt(2)*xg
def popS1(eps):
    s=sig(Z); w=s*(1-s); Pt=eps+(1-2*eps)*s; v=Pt*(1-Pt)/(1-2*eps)**2
    # E[f xx^T] = 2[E f (I-uu) + E f Z^2/2 uu]
    Hp, Hl = 2*(wg*w).sum(), (wg*w*Z**2).sum()
    Op, Ol = 2*(wg*v).sum(), (wg*v*Z**2).sum()
    return (d-1)*Op/Hp**2 + Ol/Hl**2      # n * tr(H^-1 Omega H^-1)
for eps in [0.0, 0.1, 0.2, 0.3]:
    for n, K in [(1000, 30), (2000, 12)]:
        tv=cr=0
        for k in range(K):
            th=rng.normal(size=d); th/=np.linalg.norm(th); X=rng.normal(size=(n,d))*np.sqrt(2); z=X@th
            s=sig(z); Pt=eps+(1-2*eps)*s; q=1/(1-2*eps)
            v=Pt*(1-Pt)*q**2; k3=Pt*(1-Pt)*(1-2*Pt)*q**3
            t,c=mse2g(X,np.ones(n),z,v,k3); tv+=t; cr+=c
        pop=popS1(eps)/n
        print('eps %.1f n %d: c_realised = %.2f  c_pop = %.2f  (E trS1/pop = %.4f)' % (eps, n, cr/tv*n/d, ((tv+cr)/K/pop-1)*n/d, tv/K/pop))
