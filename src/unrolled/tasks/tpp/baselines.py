"""The classical models the neural ones must beat, fitted on the same training sequences and
scored the same way (``intervals``, as ``PointProcess.intervals``):

* ``Poisson``: a constant intensity ``lambda = N / total window time`` (its maximum likelihood);
* ``Hawkes``: ``lambda*(t) = mu + sum_{t_i < t} alpha beta e^{-beta (t - t_i)}``, every event
  raising the intensity by ``alpha beta`` and the excitation fading at rate ``beta`` (``alpha`` is
  the mean number of events each event triggers). Its log-likelihood has a closed form (Ozaki
  1979) with the recursion ``A_i = e^{-beta (t_i - t_{i-1})} (1 + A_{i-1})``::

      log L = sum_i log(mu + alpha beta A_i) - mu T - alpha sum_i (1 - e^{-beta (T - t_i)})

  maximised over ``log mu, log alpha, log beta`` (so all stay positive) by Newton's method with
  the exact gradient (the recursion differentiated: ``B_i = dA_i / dbeta``), the Hessian by
  central differences of that gradient, Levenberg-Marquardt damping and a backtracking line
  search; it stops when a step changes log L per event by less than 1e-10.

Marks, for both: each mark's frequency in the training events (the history is not used).
"""

from __future__ import annotations

import numpy as np

from unrolled.tasks.tpp.dists import ExpKernels
from unrolled.tasks.tpp.model import Intervals, as_sequences


def _padded(seqs):
    """times (L, B) padded with the last time, valid (L, B), t_end (B,)."""
    L, B = max(len(q) for q in seqs), len(seqs)
    times, valid = np.zeros((L, B)), np.zeros((L, B), dtype=bool)
    for b, q in enumerate(seqs):
        times[:len(q), b], times[len(q):, b] = q.times, q.times[-1]
        valid[:len(q), b] = True
    return times, valid, np.array([q.t_end for q in seqs])


class _MarkFrequencies:
    def _fit_marks(self, seqs, n_marks):
        self.n_marks_ = n_marks
        if n_marks:
            counts = np.bincount(np.concatenate([q.marks for q in seqs]), minlength=n_marks) + 0.5
            self.mark_log_proba_ = np.log(counts / counts.sum())  # add-half smoothing: no mark has p = 0

    def _marks(self, iv):
        return None if not self.n_marks_ else np.tile(self.mark_log_proba_, (len(iv.tau), 1))


class Poisson(_MarkFrequencies):
    """The homogeneous Poisson process (and the marks' frequencies)."""

    name = "poisson"

    def fit(self, data):
        seqs, n_marks = as_sequences(data, what="the training data")
        self.rate_ = sum(len(q) for q in seqs) / sum(q.t_end for q in seqs)
        self._fit_marks(seqs, n_marks)
        return self

    def intervals(self, data):
        seqs, _ = as_sequences(data, self.n_marks_, "the data")
        iv = Intervals(seqs, 0.0, 1.0, self.n_marks_)
        return iv, ExpKernels(self.rate_, np.zeros((len(iv.tau), 0)), []), self._marks(iv)


class Hawkes(_MarkFrequencies):
    """The self-exciting process with one exponential kernel, fitted by maximum likelihood (module
    docstring); ``mu_``, ``alpha_``, ``beta_`` after ``fit``."""

    name = "hawkes"

    def fit(self, data, max_iter=200):
        seqs, n_marks = as_sequences(data, what="the training data")
        self._fit_marks(seqs, n_marks)
        padded = _padded(seqs)
        n = sum(len(q) for q in seqs)
        mean_tau = np.mean(np.concatenate([q.taus for q in seqs]))
        theta = np.log([0.5 * n / padded[2].sum(), 0.5, 1.0 / mean_tau])

        def f(th):  # - log L per event, and its gradient in log-parameters
            value, grad = log_likelihood(np.exp(th), *padded)
            return -value / n, -grad * np.exp(th) / n

        value, grad = f(theta)
        damping = 1e-3
        for self.iterations_ in range(1, max_iter + 1):
            eps = 1e-5
            hess = np.stack([(f(theta + eps * e)[1] - f(theta - eps * e)[1]) / (2 * eps) for e in np.eye(3)])
            hess = 0.5 * (hess + hess.T)
            improved = False
            while damping < 1e8:
                step = -np.linalg.solve(hess + damping * np.eye(3), grad)
                new_value, new_grad = f(theta + step)
                if np.isfinite(new_value) and new_value <= value:
                    improved, damping = True, max(damping / 10, 1e-9)
                    break
                damping *= 10
            if not improved:
                break
            change = value - new_value
            theta, value, grad = theta + step, new_value, new_grad
            if change < 1e-10:
                break
        self.mu_, self.alpha_, self.beta_ = (float(v) for v in np.exp(theta))
        self.train_nll_ = float(value)
        return self

    def intervals(self, data):
        seqs, _ = as_sequences(data, self.n_marks_, "the data")
        iv = Intervals(seqs, 0.0, 1.0, self.n_marks_)
        excitation = []  # sum over past events of e^{-beta (now - t_l)}, at each interval's start
        for q in seqs:
            A = _recursion(q.times, self.beta_)  # before each event
            after = np.append(0.0, 1.0 + A)  # right after event j (none at the start)
            excitation.append(after[:len(q) + (q.t_end > q.times[-1])])
        c = self.alpha_ * self.beta_ * np.concatenate(excitation)[:, None]
        return iv, ExpKernels(self.mu_, c, [self.beta_]), self._marks(iv)


def _recursion(times, beta):
    """A_i = sum_{l < i} e^{-beta (t_i - t_l)} for one sequence."""
    A = np.zeros(len(times))
    for i in range(1, len(times)):
        A[i] = np.exp(-beta * (times[i] - times[i - 1])) * (1 + A[i - 1])
    return A


def log_likelihood(params, times, valid, t_end):
    """The Hawkes log-likelihood summed over padded sequences and its gradient in (mu, alpha, beta):
    times (L, B), valid (L, B), t_end (B,)."""
    mu, alpha, beta = params
    L, B = times.shape
    A, dA = np.zeros(B), np.zeros(B)  # A_i and dA_i / dbeta, carried along the events
    log_lam = d_mu = d_alpha = d_beta = 0.0
    for i in range(L):
        if i:
            gap = times[i] - times[i - 1]
            decay = np.exp(-beta * gap)
            A, dA = decay * (1 + A), decay * (dA - gap * (1 + A))
        lam = mu + alpha * beta * A
        v = valid[i]
        log_lam += np.log(lam[v]).sum()
        d_mu += (1 / lam[v]).sum()
        d_alpha += (beta * A[v] / lam[v]).sum()
        d_beta += (alpha * (A[v] + beta * dA[v]) / lam[v]).sum()
    left = np.where(valid, t_end[None, :] - times, 0.0)  # T - t_i
    tail = np.where(valid, -np.expm1(-beta * left), 0.0)
    compensator = mu * t_end.sum() + alpha * tail.sum()
    grad = np.array([d_mu - t_end.sum(), d_alpha - tail.sum(),
                     d_beta - alpha * np.where(valid, left * np.exp(-beta * left), 0.0).sum()])
    return log_lam - compensator, grad
