"""Which ONNX operator each cell is, and its weights moved between the two layouts.

unrolled keeps PyTorch's layout, one direction's parameters apart (``weight_ih`` (G*H, D),
``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` (G*H,)), gates in PyTorch's order. ONNX's
``RNN`` / ``LSTM`` / ``GRU`` stack the directions and order the gates its own way::

    W (dirs, G*H, D)   R (dirs, G*H, H)   B (dirs, 2*G*H) = [Wb | Rb]   P (dirs, 3H) (LSTM only)

    LSTM  unrolled i, f, g, o   ->  ONNX i, o, f, c        peepholes  i, f, o  ->  i, o, f
    GRU   unrolled r, z, n      ->  ONNX z, r, h           (PyTorch's GRU is linear_before_reset=1)
    RNN   one gate                                          activations Tanh or Relu

Moving a direction is a permutation of row blocks of H; ``onnx_direction`` and ``unrolled_direction``
are each other's inverse. No onnx import here: this is arithmetic on arrays.
"""

from __future__ import annotations

import numpy as np

# cell name -> (ONNX op, its attributes that pick the cell)
OPS = {
    "rnn_tanh": ("RNN", {"activations": "Tanh"}),
    "rnn_relu": ("RNN", {"activations": "Relu"}),
    "lstm": ("LSTM", {}),
    "lstm_peephole": ("LSTM", {}),  # and the input P
    "gru": ("GRU", {"linear_before_reset": 1}),
    "gru_reset_before": ("GRU", {"linear_before_reset": 0}),
}
# ONNX's k-th block of H rows is unrolled's block ORDER[op][k]
ORDER = {"RNN": (0,), "LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2)}
PEEPHOLE_ORDER = (0, 2, 1)  # ONNX P is i, o, f; ours i, f, o


def blocks(a: np.ndarray, order, H: int) -> np.ndarray:
    """The row blocks of H of ``a`` (k*H, ...) taken in ``order``."""
    return np.concatenate([a[k * H:(k + 1) * H] for k in order], axis=0)


def inverse(order) -> tuple:
    return tuple(int(k) for k in np.argsort(order))


def onnx_direction(op: str, params: dict, H: int) -> dict:
    """One direction's parameters in unrolled's layout (``weight_ih``, ``weight_hh``, optional
    ``bias_ih`` / ``bias_hh`` / ``weight_peephole``) -> ONNX's ``W`` (G*H, D), ``R`` (G*H, H),
    ``B`` (2*G*H,) or None, ``P`` (3H,) or None, without the direction axis."""
    order = ORDER[op]
    out = {"W": blocks(params["weight_ih"], order, H), "R": blocks(params["weight_hh"], order, H),
           "B": None, "P": None}
    if params.get("bias_ih") is not None:
        out["B"] = np.concatenate([blocks(params["bias_ih"], order, H), blocks(params["bias_hh"], order, H)])
    if params.get("weight_peephole") is not None:
        out["P"] = blocks(params["weight_peephole"], PEEPHOLE_ORDER, H)
    return out


def unrolled_direction(op: str, W, R, B=None, P=None) -> dict:
    """``onnx_direction`` backwards: one direction's ``W``, ``R`` and optional ``B``, ``P`` -> unrolled's
    parameters by name (no biases without ``B``, no ``weight_peephole`` without ``P``)."""
    H = R.shape[1]
    back = inverse(ORDER[op])
    out = {"weight_ih": blocks(W, back, H), "weight_hh": blocks(R, back, H)}
    if B is not None:
        GH = W.shape[0]
        out["bias_ih"], out["bias_hh"] = blocks(B[:GH], back, H), blocks(B[GH:], back, H)
    if P is not None:
        out["weight_peephole"] = blocks(P, inverse(PEEPHOLE_ORDER), H)
    return out
