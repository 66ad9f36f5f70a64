# consistency: the general form reduces to the logistic one when v = w, k3 = mu2
import numpy as np, sys
sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__)))
from second_order import mse2; from second_order_gen import mse2g, sig
rng=np.random.default_rng(1); d=8; n=400
th=rng.normal(size=d); th/=np.linalg.norm(th); X=rng.normal(size=(n,d))*np.sqrt(2); z=X@th
s=sig(z); w=s*(1-s)
print(mse2(X,np.ones(n),z)[:2], mse2g(X,np.ones(n),z,w,w*(1-2*s)))
