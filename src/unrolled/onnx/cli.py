"""``unrolled export --model DIR --onnx FILE``: a trained model's network as an ONNX file, a thin
shell over ``unrolled.load`` and ``unrolled.onnx.export``."""

from __future__ import annotations

import argparse

from unrolled.onnx import DEFAULT_OPSET, require_onnx


def _export(args) -> int:
    try:
        require_onnx()
    except ImportError as e:  # the environment is the user's to fix: one line, exit 2
        raise ValueError(str(e)) from None
    import onnx

    from unrolled.onnx.to_onnx import _exporter, check_target, export, network_of
    from unrolled.tasks.registry import load

    try:
        check_target(args.onnx)  # a folder that exists; never a device, a FIFO or a directory
    except ValueError as e:
        raise ValueError(f"--onnx: {e}") from None
    estimator = load(args.model)  # checks the directory: a damaged or planted file is a ValueError naming it
    if args.state and "state" not in _exporter(network_of(estimator))[1]:
        raise ValueError(f"--state (inputs h0, c0, outputs h_n, c_n) applies to a language model; this is a "
                         f"{estimator.describe()}, which starts every sequence from zeros: export it without --state")
    try:
        path = export(estimator, args.onnx, opset=args.opset, state=args.state)  # a bad opset: ValueError naming it
    except OSError as e:  # unwritable: name --onnx, not the temporary file beside it
        raise OSError(e.errno, e.strerror or str(e), args.onnx) from None
    model = onnx.load(str(path))
    print(f"wrote {path}: {estimator.describe()}, ONNX opset {args.opset}")
    for kind, values in (("inputs ", model.graph.input), ("outputs", model.graph.output)):
        print(f"  {kind}  " + ", ".join(f"{v.name} {_shape(v)}" for v in values))
    return 0


def _shape(value_info) -> str:
    dims = [d.dim_param or str(d.dim_value) for d in value_info.type.tensor_type.shape.dim]
    return f"({dims[0]},)" if len(dims) == 1 else "(" + ", ".join(dims) + ")"


def add_export_parser(sub) -> argparse.ArgumentParser:
    """Add ``export`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "export", help="write a trained model's network as an ONNX file (RNN / LSTM / GRU operators)",
        description="Write the network of a trained model (any task) as an ONNX graph: its recurrent layers as "
                    "ONNX RNN / LSTM / GRU operators, its embedding, pooling and heads around them, in float32. "
                    "The task's own preparation of the data (features, scaling, tokenizing) is not in the graph.")
    p.add_argument("--model", metavar="DIR", required=True,
                   help="a trained model: the --out directory of a training run (or its model/ directory)")
    p.add_argument("--onnx", metavar="FILE", required=True, help="the ONNX file to write (replaced if it exists)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"the ONNX opset to write, 14 or newer (default {DEFAULT_OPSET})")
    p.add_argument("--state", action="store_true",
                   help="a language model: take the initial state as inputs h0 (c0) and return h_n (c_n), to "
                        "carry it from one call to the next")
    p.set_defaults(func=_export)
    return p
