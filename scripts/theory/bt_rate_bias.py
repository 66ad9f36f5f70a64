import numpy as np, sys
sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__))); from sc import solve
gamma=np.sqrt(2.0)
ns=np.array([1000,2000,4000,8000,16000.]); ds=np.array([4,8,16,32.])
a0=None; cache={}
def R(k):
    if k in cache: return cache[k]
    sol,ier,a0=solve(k,gamma); al,s,lam=sol; assert ier==1
    cache[k]=((al-1)**2*gamma**2+k*s**2)/(k/a0); return cache[k]
LR=np.array([[0.5*np.log(R(d/n)) for d in ds] for n in ns])   # log inflation of rms error
for j,d in enumerate(ds):
    print('dim %2d: slope-n bias %.4f   rms ratio at n=16000: %.4f  at 1000: %.4f'%(d, np.polyfit(np.log(ns), LR[:,j],1)[0], np.exp(LR[-1,j]), np.exp(LR[0,j])))
for i,n in enumerate(ns):
    print('n %5d: slope-d bias %.4f'%(n, np.polyfit(np.log(ds), LR[i,:],1)[0]))
# excess: E excess ~ (d/2n) * R  (quadratic form in e)
for j,d in enumerate(ds):
    print('dim %2d: excess slope-n bias %.4f  excess ratio at 16000 %.4f'%(d, np.polyfit(np.log(ns), 2*LR[:,j],1)[0], np.exp(2*LR[-1,j])))
