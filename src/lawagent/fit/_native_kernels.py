"""numba kernels of :mod:`lawagent.fit.native` (imported only where numba is installed).

Each function mirrors a numpy step of :class:`lawagent.fit.fitter._Problem` for one
(group, start) pair; the names say which. ``error_model="numpy"``: a division by
zero gives inf or NaN, as in numpy, instead of raising.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_JIT = dict(cache=True, error_model="numpy", nogil=True)


@njit(**_JIT)
def _run(code, const_slots, const_values, feature_slots, param_slots, value_out, jac_out, X, P, S):
    """Interpret the tape on one group's rows: S (slots, m) holds every slot's value per row."""
    m = X.shape[1]
    for i in range(const_slots.shape[0]):
        S[const_slots[i], :] = const_values[i]
    for i in range(feature_slots.shape[0]):
        S[feature_slots[i], :] = X[i]
    for i in range(param_slots.shape[0]):
        S[param_slots[i], :] = P[i]
    for i in range(code.shape[0]):
        op, out, a, b = code[i, 0], code[i, 1], code[i, 2], code[i, 3]
        x, y, o = S[a], S[b if b >= 0 else a], S[out]
        if op == 0:
            for j in range(m):
                o[j] = x[j] + y[j]
        elif op == 1:
            for j in range(m):
                o[j] = x[j] - y[j]
        elif op == 2:
            for j in range(m):
                o[j] = x[j] * y[j]
        elif op == 3:
            for j in range(m):
                o[j] = x[j] / y[j]
        elif op == 4:
            for j in range(m):
                o[j] = x[j] ** y[j]
        elif op == 5:
            for j in range(m):
                o[j] = -x[j]
        elif op == 6:
            for j in range(m):
                o[j] = math.exp(x[j]) if x[j] < 709.8 else math.inf
        elif op == 7:
            for j in range(m):
                v = x[j]
                o[j] = math.log(v) if v > 0 else (-math.inf if v == 0 else math.nan)
        elif op == 8:
            for j in range(m):
                o[j] = math.tanh(x[j])
        elif op == 9:
            for j in range(m):
                o[j] = math.sqrt(x[j]) if x[j] >= 0 else math.nan
        elif op == 10:
            for j in range(m):
                v = x[j]
                o[j] = math.nan if v != v else (1.0 if v > 0 else (-1.0 if v < 0 else 0.0))
        elif op == 11:
            for j in range(m):
                o[j] = abs(x[j])
        elif op == 12:
            for j in range(m):
                o[j] = math.nan if (x[j] != x[j] or y[j] != y[j]) else min(x[j], y[j])
        elif op == 13:
            for j in range(m):
                o[j] = math.nan if (x[j] != x[j] or y[j] != y[j]) else max(x[j], y[j])
        else:  # 14: sympy's Heaviside
            for j in range(m):
                v = x[j]
                o[j] = 0.0 if v < 0 else (0.5 if v == 0 else 1.0)


@njit(**_JIT)
def _evaluate(code, const_slots, const_values, feature_slots, param_slots, value_out, jac_out, X, P, S, F, J):
    """Values F (T*m) and the Jacobian J (T*m, parameters) at P (_Problem._evaluate)."""
    _run(code, const_slots, const_values, feature_slots, param_slots, value_out, jac_out, X, P, S)
    m = X.shape[1]
    for t in range(value_out.shape[0]):
        for j in range(m):
            F[t * m + j] = S[value_out[t], j]
        for p in range(jac_out.shape[1]):
            s = jac_out[t, p]
            for j in range(m):
                J[t * m + j, p] = 0.0 if s < 0 else S[s, j]


@njit(**_JIT)
def _theta(U, kinds, lo, hi, logmode, sign, u_limit, out):
    """Parameter values of the internal variables U (_Problem._theta with Transform.forward)."""
    for i in range(U.shape[0]):
        u = U[i]
        if logmode[i]:
            out[i] = sign[i] * math.exp(min(max(u, -u_limit), u_limit))
        elif kinds[i] == 0:
            out[i] = u
        elif kinds[i] == 1:
            out[i] = lo[i] + math.exp(min(max(u, -u_limit), u_limit))
        elif kinds[i] == 2:
            out[i] = hi[i] - math.exp(min(max(u, -u_limit), u_limit))
        else:
            out[i] = lo[i] + (hi[i] - lo[i]) / (1.0 + math.exp(-min(max(u, -700.0), 700.0)))


@njit(**_JIT)
def _dtheta(U, kinds, lo, hi, logmode, sign, u_limit, out):
    """d theta / d U (_Problem._dtheta with Transform.derivative)."""
    for i in range(U.shape[0]):
        u = U[i]
        inside = abs(u) < u_limit
        if logmode[i]:
            out[i] = sign[i] * math.exp(min(max(u, -u_limit), u_limit)) if inside else 0.0
        elif kinds[i] == 0:
            out[i] = 1.0
        elif kinds[i] == 1 or kinds[i] == 2:
            d = math.exp(min(max(u, -u_limit), u_limit)) if inside else 0.0
            out[i] = d if kinds[i] == 1 else -d
        else:
            s = 1.0 / (1.0 + math.exp(-min(max(u, -700.0), 700.0)))
            out[i] = (hi[i] - lo[i]) * s * (1.0 - s)


@njit(**_JIT)
def _gram(A, out):
    """out = A^T A (both triangles)."""
    M, n = A.shape
    for a in range(n):
        for b in range(a + 1):
            s = 0.0
            for i in range(M):
                s += A[i, a] * A[i, b]
            out[a, b] = s
            out[b, a] = s


@njit(**_JIT)
def _cholesky(A, L):
    """The lower Cholesky factor of A (n, n) into L; False on a pivot that is not positive and finite."""
    n = A.shape[0]
    for j in range(n):
        s = A[j, j]
        for p in range(j):
            s -= L[j, p] * L[j, p]
        if not (s > 0 and s < math.inf):
            return False
        d = math.sqrt(s)
        L[j, j] = d
        for i in range(j + 1, n):
            t = A[i, j]
            for p in range(j):
                t -= L[i, p] * L[j, p]
            L[i, j] = t / d
    return True


@njit(**_JIT)
def _lstsq(J, lin_idx, mask, b, A, scale, gram, L, Linv, c, Q):
    """Scaled least squares of b on the masked linear columns of J, and an orthonormal basis Q of their
    range (lawagent.fit.fitter's lstsq for one pair): Cholesky of the scaled Gram matrix, SVD where it fails."""
    M, l = A.shape
    for j in range(l):
        s = 0.0
        for i in range(M):
            v = J[i, lin_idx[j]] * mask[i]
            A[i, j] = v
            s += v * v
        s = math.sqrt(s)
        scale[j] = s if s > 0 else 1.0
    for i in range(M):
        for j in range(l):
            A[i, j] /= scale[j]
    _gram(A, gram)
    for a in range(l):
        gram[a, a] += 1e-13
    if _cholesky(gram, L):
        for j in range(l):
            Linv[j, j] = 1.0 / L[j, j]
            for i in range(j + 1, l):
                s = 0.0
                for p in range(j, i):
                    s += L[i, p] * Linv[p, j]
                Linv[i, j] = -s / L[i, i]
            for i in range(j):
                Linv[i, j] = 0.0
        for i in range(M):  # Q = A Linv^T
            for j in range(l):
                s = 0.0
                for p in range(j + 1):
                    s += A[i, p] * Linv[j, p]
                Q[i, j] = s
        for j in range(l):  # c = Linv^T Q^T b / scale
            z = 0.0
            for i in range(M):
                z += Q[i, j] * b[i]
            gram[j, j] = z  # (the Gram matrix is not needed any more: its diagonal holds Q^T b)
        for j in range(l):
            s = 0.0
            for p in range(j, l):
                s += Linv[p, j] * gram[p, p]
            c[j] = s / scale[j]
        return
    for i in range(M):
        for j in range(l):
            if not math.isfinite(A[i, j]):
                c[:] = 0.0
                Q[:, :] = 0.0
                return
    Uu, sv, Vt = np.linalg.svd(A, full_matrices=False)
    n = sv.shape[0]
    z = Uu.T @ b
    for i in range(n):
        z[i] = z[i] / sv[i] if sv[i] > 1e-10 * sv[0] else 0.0
    coef = Vt.T @ z
    for j in range(l):
        c[j] = coef[j] / scale[j]
    for i in range(M):
        for j in range(l):
            Q[i, j] = Uu[i, j] if (j < n and sv[j] > 1e-10 * sv[0]) else 0.0


@njit(**_JIT)
def _project(code, const_slots, const_values, feature_slots, param_slots, value_out, jac_out, X, Y, mask,
             lin_idx, nl_idx, kinds, lo, hi, logmode, sign, U, u_limit, S, P, F, J, theta, r, c, Q, work):
    """Cost at U, with the residual r, linear solution c and basis Q (_Problem._project). Fills theta, P
    (the parameters, linear ones at 0) and F, J (values and Jacobian there)."""
    A, scale, gram, L, Linv = work
    _theta(U, kinds, lo, hi, logmode, sign, u_limit, theta)
    for i in range(nl_idx.shape[0]):
        P[nl_idx[i]] = theta[i]
    for i in range(lin_idx.shape[0]):
        P[lin_idx[i]] = 0.0
    _evaluate(code, const_slots, const_values, feature_slots, param_slots, value_out, jac_out, X, P, S, F, J)
    M = F.shape[0]
    finite = True
    for i in range(M):
        if not math.isfinite(F[i]):
            finite = False
            F[i] = 0.0
        for p in range(J.shape[1]):
            if not math.isfinite(J[i, p]):
                finite = False
                J[i, p] = 0.0
    l = lin_idx.shape[0]
    if l > 0:
        for i in range(M):
            r[i] = (Y[i] - F[i]) * mask[i]  # the right-hand side first
        _lstsq(J, lin_idx, mask, r, A, scale, gram, L, Linv, c, Q)
    cost = 0.0
    for i in range(M):
        v = F[i]
        for j in range(l):
            v += J[i, lin_idx[j]] * c[j]
        v = (v - Y[i]) * mask[i]
        r[i] = v
        cost += v * v
    if not finite or not math.isfinite(cost):
        cost = math.inf
    return cost


@njit(**_JIT)
def _jacobian_nl(code, const_slots, const_values, feature_slots, param_slots, value_out, jac_out, X, mask,
                 lin_idx, nl_idx, kinds, lo, hi, logmode, sign, U, u_limit, S, P, F, J, c, Q, d, W, Jn):
    """Kaufman's Jacobian Jn of the projected residual by U (_Problem._jacobian_nl), at the linear solution c.
    P must be that of U (from _project), and J its Jacobian at linear parameters 0."""
    l, k, M = lin_idx.shape[0], nl_idx.shape[0], mask.shape[0]
    if l > 0:  # the nonlinear columns at c: evaluate there
        for i in range(l):
            P[lin_idx[i]] = c[i]
        _evaluate(code, const_slots, const_values, feature_slots, param_slots, value_out, jac_out, X, P, S, F, J)
    _dtheta(U, kinds, lo, hi, logmode, sign, u_limit, d)
    for i in range(M):
        for j in range(k):
            v = J[i, nl_idx[j]]
            Jn[i, j] = (v if math.isfinite(v) else 0.0) * mask[i] * d[j]
    if l > 0:  # Jn -= Q (Q^T Jn)
        for p in range(l):
            for j in range(k):
                s = 0.0
                for i in range(M):
                    s += Q[i, p] * Jn[i, j]
                W[p, j] = s
        for i in range(M):
            for j in range(k):
                s = 0.0
                for p in range(l):
                    s += Q[i, p] * W[p, j]
                Jn[i, j] -= s


@njit(**_JIT)
def _solve(Mx, g, L, z, x):
    """x with Mx x = g (the damped normal equations: symmetric positive definite unless not finite)."""
    k = g.shape[0]
    if not _cholesky(Mx, L):
        for i in range(k):
            for j in range(k):
                if not math.isfinite(Mx[i, j]):
                    x[:] = 0.0
                    return
        x[:] = np.linalg.pinv(Mx, rcond=1e-12) @ g
        return
    for i in range(k):
        s = g[i]
        for p in range(i):
            s -= L[i, p] * z[p]
        z[i] = s / L[i, i]
    for i in range(k - 1, -1, -1):
        s = z[i]
        for p in range(i + 1, k):
            s -= L[p, i] * x[p]
        x[i] = s / L[i, i]


@njit(**_JIT)
def refine(code, code_nl, n_slots, const_slots, const_values, feature_slots, param_slots, value_out, jac_out,
           jac_out_nl, X, Y, mask, lin_idx, nl_idx, kinds, lo, hi, logmode, sign, U, out, max_iter, tol, stall_tol, window, u_limit):
    """Levenberg-Marquardt from U (groups, k), in place, one group after another on its rows X[g] (features,
    m), Y[g] and mask[g] (targets * m): the loop of _Problem.solve. out[g] = (cost, converged, iterations)."""
    G, m = X.shape[0], X.shape[2]
    n_params = jac_out.shape[1]
    M = Y.shape[1]
    k, l = nl_idx.shape[0], lin_idx.shape[0]
    S = np.empty((max(n_slots, 1), m))
    P, F, J = np.zeros(n_params), np.empty(M), np.empty((M, n_params))
    theta, t_theta, trial, d = np.empty(k), np.empty(k), np.empty(k), np.empty(k)
    r, t_r = np.empty(M), np.empty(M)
    c, t_c = np.zeros(l), np.zeros(l)
    Q, t_Q = np.zeros((M, l)), np.zeros((M, l))
    work = (np.empty((M, l)), np.empty(l), np.empty((l, l)), np.zeros((l, l)), np.zeros((l, l)))
    Jn, W = np.empty((M, k)), np.empty((l, k))
    A, Mx, Lk = np.empty((k, k)), np.empty((k, k)), np.zeros((k, k))
    g, z, step = np.empty(k), np.empty(k), np.empty(k)
    for grp in range(G):
        Xg, Yg, mg, Ug, lm, sg = X[grp], Y[grp], mask[grp], U[grp], logmode[grp], sign[grp]
        cost = _project(code, const_slots, const_values, feature_slots, param_slots, value_out, jac_out, Xg, Yg,
                        mg, lin_idx, nl_idx, kinds, lo, hi, lm, sg, Ug, u_limit, S, P, F, J, theta, r, c, Q, work)
        out[grp, 0], out[grp, 1], out[grp, 2] = cost, 0.0, 0.0
        if not math.isfinite(cost):
            continue
        _jacobian_nl(code_nl, const_slots, const_values, feature_slots, param_slots, value_out, jac_out_nl, Xg, mg,
                     lin_idx, nl_idx, kinds, lo, hi, lm, sg, Ug, u_limit, S, P, F, J, c, Q, d, W, Jn)
        lam = 1e-3
        converged = False
        iters = 0
        before = cost
        for it in range(max_iter):
            if it > 0 and it % window == 0:
                # a start that gained almost nothing over a whole window is crawling along a flat valley
                if before - cost <= stall_tol * max(cost, 1e-300):
                    converged = True
                    break
                before = cost
            _gram(Jn, A)
            dmax = 0.0
            for a in range(k):
                s = 0.0
                for i in range(M):
                    s += Jn[i, a] * r[i]
                g[a] = s
                dmax = max(dmax, A[a, a])
            for a in range(k):
                for b in range(k):
                    Mx[a, b] = A[a, b]
                Mx[a, a] += lam * max(A[a, a], 1e-12 * (dmax + 1e-300))
            _solve(Mx, g, Lk, z, step)
            for a in range(k):
                trial[a] = Ug[a] - step[a]
            t_cost = _project(code, const_slots, const_values, feature_slots, param_slots, value_out, jac_out, Xg,
                              Yg, mg, lin_idx, nl_idx, kinds, lo, hi, lm, sg, trial, u_limit, S, P, F, J, t_theta,
                              t_r, t_c, t_Q, work)
            better = t_cost < cost
            rel = (cost - t_cost) / max(cost, 1e-300)
            gmax = 0.0
            for a in range(k):
                gmax = max(gmax, abs(g[a]))
            if (better and rel < tol) or gmax <= 1e-14 * max(cost, 1e-300) or (not better and lam > 1e10):
                converged = True
            iters += 1
            if better:
                Ug[:] = trial
                cost = t_cost
                r, t_r = t_r, r
                c, t_c = t_c, c
                Q, t_Q = t_Q, Q
                _jacobian_nl(code_nl, const_slots, const_values, feature_slots, param_slots, value_out, jac_out_nl,
                             Xg, mg, lin_idx, nl_idx, kinds, lo, hi, lm, sg, Ug, u_limit, S, P, F, J, c, Q, d, W, Jn)
                lam = max(lam / 3, 1e-12)
            else:
                lam = min(lam * 4, 1e16)
            if converged or cost <= 1e-30:
                break
        out[grp, 0], out[grp, 1], out[grp, 2] = cost, 1.0 if converged else 0.0, iters
