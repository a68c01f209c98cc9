"""onnxruntime per-call and per-Loop-iteration overhead at batch 1 (one thread): a minimal GRU-256 greedy step run
once per token from Python, against the same step inside an ONNX ``Loop`` of 9 iterations. Run:
``python -m benchmarks.onnx_loop_overhead``; measured 17 us per call and 125 us per 9-step loop on the 2-core CPU."""

import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

H = 256
V = 70
rng = np.random.default_rng(0)
W = numpy_helper.from_array(rng.normal(size=(1, 3 * H, 64)).astype(np.float32) * 0.1, "W")
R = numpy_helper.from_array(rng.normal(size=(1, 3 * H, H)).astype(np.float32) * 0.1, "R")
E = numpy_helper.from_array(rng.normal(size=(V, 64)).astype(np.float32), "E")
OUT = numpy_helper.from_array(rng.normal(size=(H, V)).astype(np.float32), "O")
ax0 = numpy_helper.from_array(np.array([0], np.int64), "ax0")
# body: inputs iter, cond, token(N,), h(1,N,H) ; outputs cond, token, h, scan token
body_nodes = [
    helper.make_node("Gather", ["E", "tok_in"], ["x"]),
    helper.make_node("Unsqueeze", ["x", "ax0"], ["x3"]),
    helper.make_node("GRU", ["x3", "W", "R", "", "", "h_in"], ["Y", "h_out"], hidden_size=H, linear_before_reset=1),
    helper.make_node("Squeeze", ["h_out", "ax0"], ["top"]),
    helper.make_node("MatMul", ["top", "O"], ["logits"]),
    helper.make_node("ArgMax", ["logits"], ["tok_out"], axis=-1, keepdims=0),
    helper.make_node("Identity", ["cond_in"], ["cond_out"]),
    helper.make_node("Identity", ["tok_out"], ["scan"]),
]
body = helper.make_graph(
    body_nodes,
    "body",
    [
        helper.make_tensor_value_info("i", TensorProto.INT64, []),
        helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
        helper.make_tensor_value_info("tok_in", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, "N", H]),
    ],
    [
        helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
        helper.make_tensor_value_info("tok_out", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, "N", H]),
        helper.make_tensor_value_info("scan", TensorProto.INT64, ["N"]),
    ],
)
main = helper.make_graph(
    [helper.make_node("Loop", ["M", "c0", "t0", "h0"], ["tf", "hf", "toks"], body=body)],
    "main",
    [
        helper.make_tensor_value_info("M", TensorProto.INT64, []),
        helper.make_tensor_value_info("c0", TensorProto.BOOL, []),
        helper.make_tensor_value_info("t0", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, "N", H]),
    ],
    [helper.make_tensor_value_info("toks", TensorProto.INT64, ["T", "N"])],
    [W, R, E, OUT, ax0],
)
m = helper.make_model(main, opset_imports=[helper.make_opsetid("", 17)])
m.ir_version = 8
onnx.checker.check_model(m)
so = ort.SessionOptions()
so.intra_op_num_threads = 1
so.inter_op_num_threads = 1
s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
feeds = {
    "M": np.array(9, np.int64),
    "c0": np.array(True),
    "t0": np.array([1], np.int64),
    "h0": np.zeros((1, 1, H), np.float32),
}
for _ in range(50):
    s.run(None, feeds)
t = time.perf_counter()
n = 2000
for _ in range(n):
    s.run(["toks"], feeds)
print("loop 9 iters per run: %.1f us/run" % ((time.perf_counter() - t) / n * 1e6))
# step graph alone
step = helper.make_graph(
    body_nodes[:6],
    "step",
    [
        helper.make_tensor_value_info("tok_in", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, "N", H]),
    ],
    [
        helper.make_tensor_value_info("tok_out", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, "N", H]),
    ],
    [W, R, E, OUT, ax0],
)
m2 = helper.make_model(step, opset_imports=[helper.make_opsetid("", 17)])
m2.ir_version = 8
s2 = ort.InferenceSession(m2.SerializeToString(), so, providers=["CPUExecutionProvider"])
f2 = {"tok_in": np.array([1], np.int64), "h_in": np.zeros((1, 1, H), np.float32)}
t = time.perf_counter()
for _ in range(n * 9):
    s2.run(None, f2)
print("step run: %.1f us/run" % ((time.perf_counter() - t) / n / 9 * 1e6))
