"""Input validation shared by every part: errors that say what to fix, raised before any work."""

from __future__ import annotations

import numbers

import numpy as np


def resolve_dtype(dtype, name: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"{name}: dtype={dt} is not supported; use np.float32 (default) or np.float64")
    return dt


def check_positive_int(value, what: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}: {what}={value!r} must be a positive integer")
    return int(value)


def as_numbers(a, what: str, name: str, hint: str = "") -> np.ndarray:
    """``a`` (an array, a list, a torch tensor) as a NumPy array of real numbers, not cast: a
    ragged list, a complex or a text value is refused naming ``what`` (``hint``: the dtype wanted)."""
    if hasattr(a, "detach"):  # a torch tensor
        a = a.detach().cpu().numpy()
    try:
        arr = np.asarray(a)
    except ValueError as e:  # a ragged list
        raise ValueError(f"{name}: {what} is not an array of numbers ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name}: {what} has dtype {arr.dtype}; give real numbers{hint or ' (float, int or bool)'}")
    return arr


def check_finite(a: np.ndarray, what: str, name: str) -> None:
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(
            f"{name}: {what} contains NaN or inf (first at index {tuple(int(i) for i in bad)}); "
            "clean or impute the data before passing it in")


def check_lengths(lengths, T: int, B: int, dtype, name: str):
    """Sequence lengths (B,), any order, each in [1, T] -> a mask (T, B, 1), or None if all are T."""
    if lengths is None:
        return None
    if hasattr(lengths, "detach"):  # a torch tensor
        lengths = lengths.detach().cpu().numpy()
    arr = np.asarray(lengths)
    if arr.shape != (B,):
        raise ValueError(f"{name}: lengths has shape {arr.shape}, expected ({B},): one length per sequence")
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name}: lengths must be integers, got dtype {arr.dtype}")
    if arr.min() < 1 or arr.max() > T:
        raise ValueError(
            f"{name}: lengths must lie in [1, T={T}], got min {arr.min()} and max {arr.max()}; "
            "drop empty sequences and pad the input to the longest length")
    if np.all(arr == T):
        return None
    return (np.arange(T)[:, None] < arr[None, :]).astype(dtype)[:, :, None]  # (T, B, 1)


def check_state(state, shape, has_cell_state: bool, dtype, name: str):
    """h (shape), or (h, c) for cells with a cell state -> (h, c) arrays; None means zeros."""
    if state is None:
        zeros = np.zeros(shape, dtype=dtype)
        return zeros, (zeros.copy() if has_cell_state else None)
    if has_cell_state:
        if not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise ValueError(f"{name}: state must be a tuple (h, c), each of shape {shape}")
        parts = [("h", state[0]), ("c", state[1])]
    else:
        if isinstance(state, (tuple, list)):
            raise ValueError(f"{name}: state must be one array h of shape {shape}, not a tuple")
        parts = [("h", state)]
    out = []
    for what, s in parts:
        if hasattr(s, "detach"):
            s = s.detach().cpu().numpy()
        s = np.asarray(s, dtype=dtype)
        if s.shape != shape:
            raise ValueError(
                f"{name}: state {what} has shape {s.shape}, expected {shape} = "
                "(num_layers * num_directions, B, H)")
        check_finite(s, f"state {what}", name)
        out.append(s)
    return out[0], (out[1] if has_cell_state else None)
