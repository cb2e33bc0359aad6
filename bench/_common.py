"""What several bench scripts share: the released post-processing, ported as a baseline (not library code).

The scripts run with ``bench/`` on ``sys.path`` and import it as ``_common``."""
from __future__ import annotations

import time

import numpy as np

#: the stages every post-processing pipeline is timed by
STAGES = ("threshold", "svd", "affinity", "spectral")


def released_thrC(C, ro):
    """The released DSC/PSSC ``thrC``: per column, sort, then a Python loop accumulating the mass."""
    if ro < 1:
        N = C.shape[1]
        Cp = np.zeros((N, N))
        S = np.abs(np.sort(-np.abs(C), axis=0))
        Ind = np.argsort(-np.abs(C), axis=0)
        for i in range(N):
            cL1 = np.sum(S[:, i]).astype(float)
            stop = False
            csum = 0
            t = 0
            while not stop:
                csum = csum + S[t, i]
                if csum > ro * cL1:
                    stop = True
                    Cp[Ind[0:t + 1, i], i] = C[Ind[0:t + 1, i], i]
                t = t + 1
    else:
        Cp = C
    return Cp


def released_pipeline(C, K, *, q, alpha, ro, seed, timings=None, signed=False):
    """The released post-processing (thrC + post_proC), one SpectralClustering call, timed per stage
    (``STAGES``) into ``timings`` when given. ``signed``: S = (C + C^T)/2 as the DSC-Net port's post_proC
    does, instead of (|C| + |C|^T)/2 (the PSSC release)."""
    from scipy.sparse.linalg import svds
    from sklearn.cluster import SpectralClustering
    from sklearn.preprocessing import normalize

    t0 = time.perf_counter()
    Cp = released_thrC(C, ro)
    S = 0.5 * (Cp + Cp.T) if signed else 0.5 * (np.abs(Cp) + np.abs(Cp.T))
    del Cp
    t1 = time.perf_counter()
    r = q * K + 1
    U, s, _ = svds(S, r, v0=np.ones(S.shape[0]))
    del S
    t2 = time.perf_counter()
    U = U[:, ::-1]
    s = np.sqrt(s[::-1])
    U = U.dot(np.diag(s))
    U = normalize(U, norm="l2", axis=1)
    Z = U.dot(U.T)
    Z = Z * (Z > 0)
    L = np.abs(Z ** alpha)
    del Z
    L = L / L.max()
    L = 0.5 * (L + L.T)
    t3 = time.perf_counter()
    spectral = SpectralClustering(n_clusters=K, eigen_solver="arpack", affinity="precomputed",
                                  assign_labels="discretize", random_state=seed)
    labels = spectral.fit_predict(L)
    t4 = time.perf_counter()
    for name, dt in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
        if timings is not None:
            timings[name] = dt
    return np.asarray(labels)
