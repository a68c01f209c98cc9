"""onnxruntime's cost per call and per ``Loop`` iteration at batch 1, one thread.

A minimal GRU-256 greedy step (embedding, GRU, output projection, ArgMax) run once per token from
Python, against the same step as the body of an ONNX ``Loop`` of 9 iterations: how much an
in-graph greedy loop could save over the host-side search of ``seq2seq_fit.serving``. Measured on
the 2-core CPU: about 21 µs a call (194 µs for 9), 161 µs a 9-step loop.

    python -m benchmarks.onnx_loop_overhead
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

HIDDEN, VOCAB, EMBEDDING, STEPS = 256, 70, 64, 9


def step_graph_parts() -> tuple[list[Any], list[Any]]:
    """The step's nodes (``tok_in (N,), h_in (1, N, H) -> tok_out, h_out``) and its random weights."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)

    def weight(name: str, shape: tuple[int, ...], scale: float = 1.0) -> Any:
        return numpy_helper.from_array((rng.normal(size=shape) * scale).astype(np.float32), name)

    weights = [
        weight("W", (1, 3 * HIDDEN, EMBEDDING), 0.1),
        weight("R", (1, 3 * HIDDEN, HIDDEN), 0.1),
        weight("E", (VOCAB, EMBEDDING)),
        weight("O", (HIDDEN, VOCAB)),
        numpy_helper.from_array(np.array([0], np.int64), "ax0"),
    ]
    nodes = [
        helper.make_node("Gather", ["E", "tok_in"], ["x"]),
        helper.make_node("Unsqueeze", ["x", "ax0"], ["x3"]),
        helper.make_node(
            "GRU", ["x3", "W", "R", "", "", "h_in"], ["Y", "h_out"], hidden_size=HIDDEN, linear_before_reset=1
        ),
        helper.make_node("Squeeze", ["h_out", "ax0"], ["top"]),
        helper.make_node("MatMul", ["top", "O"], ["logits"]),
        helper.make_node("ArgMax", ["logits"], ["tok_out"], axis=-1, keepdims=0),
    ]
    return nodes, weights


def session(graph: Any) -> Any:
    """A one-thread CPU session of ``graph`` (opset 17, IR 8, as the exports)."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def microseconds_per_run(sess: Any, feeds: dict[str, np.ndarray], runs: int, warmup: int = 50) -> float:
    """Mean µs of ``sess.run`` on ``feeds`` over ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        sess.run(None, feeds)
    start = time.perf_counter()
    for _ in range(runs):
        sess.run(None, feeds)
    return (time.perf_counter() - start) / runs * 1e6


def main(runs: int = 2000) -> dict[str, float]:
    """Time the step alone and the 9-step ``Loop``; prints and returns both in µs."""
    from onnx import TensorProto, helper

    nodes, weights = step_graph_parts()
    token = helper.make_tensor_value_info("tok_in", TensorProto.INT64, ["N"])
    state = helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, "N", HIDDEN])
    token_out = helper.make_tensor_value_info("tok_out", TensorProto.INT64, ["N"])
    state_out = helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, "N", HIDDEN])
    step = helper.make_graph(nodes, "step", [token, state], [token_out, state_out], weights)
    body = helper.make_graph(
        [
            *nodes,
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Identity", ["tok_out"], ["scan"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            token,
            state,
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            token_out,
            state_out,
            helper.make_tensor_value_info("scan", TensorProto.INT64, ["N"]),
        ],
    )
    loop = helper.make_graph(
        [helper.make_node("Loop", ["M", "c0", "t0", "h0"], ["tf", "hf", "tokens"], body=body)],
        "loop",
        [
            helper.make_tensor_value_info("M", TensorProto.INT64, []),
            helper.make_tensor_value_info("c0", TensorProto.BOOL, []),
            helper.make_tensor_value_info("t0", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, "N", HIDDEN]),
        ],
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["T", "N"])],
        weights,
    )
    h0, t0 = np.zeros((1, 1, HIDDEN), np.float32), np.array([1], np.int64)
    step_us = microseconds_per_run(session(step), {"tok_in": t0, "h_in": h0}, runs * STEPS)
    loop_us = microseconds_per_run(
        session(loop), {"M": np.array(STEPS, np.int64), "c0": np.array(True), "t0": t0, "h0": h0}, runs
    )
    print(f"step graph: {step_us:.1f} us a call ({STEPS} calls: {STEPS * step_us:.0f} us)")
    print(f"Loop of {STEPS} steps: {loop_us:.1f} us a call")
    return {"step_us": step_us, "loop_us": loop_us}


if __name__ == "__main__":
    main()
