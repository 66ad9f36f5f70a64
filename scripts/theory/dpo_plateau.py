import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.optimize import brentq
xg,wg=hermegauss(200); wg/=wg.sum(); Z=np.sqrt(2)*xg; d=8; beta=0.1
sig=lambda t:1/(1+np.exp(-t))
def E(f): return (wg*f).sum()
for eps in [0.1,0.2,0.3]:
    Pt=eps+(1-2*eps)*sig(Z)
    c=brentq(lambda c: E((Pt-sig(c*Z))*Z), 0.01, 1.5)
    b=(1-c)*1/beta
    w=sig(c*Z)*(1-sig(c*Z)); om=Pt*(1-Pt)+(Pt-sig(c*Z))**2
    Hp,Hl=2*E(w),E(w*Z**2); Op,Ol=2*E(om),E(om*Z**2)
    v=((d-1)*Op/Hp**2+Ol/Hl**2)/beta**2
    ns=np.array([1000,4000,16000.])
    rms=np.sqrt(b**2+v/ns)
    print('eps %.1f: c=%.4f bias b=%.3f  sqrt(v/n)=%s rms=%s slope=%.4f' % (eps,c,b,np.sqrt(v/ns).round(3),rms.round(3),np.polyfit(np.log(ns),np.log(rms),1)[0]))
    # cDPO (eps_hat 0.2): target sigma = (1-2e)Pt + e  -> solve E[((1-2e)Pt+e - sig(cZ)) Z]=0
    e=0.2; Tc=(1-2*e)*Pt+e
    cc=brentq(lambda c: E((Tc-sig(c*Z))*Z), 0.001, 1.5); print('   cDPO c=%.4f b=%.3f'%(cc,(1-cc)/beta))
