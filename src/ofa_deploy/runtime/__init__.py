"""The runtimes exported files run on: onnxruntime and the LiteRT interpreter, below `latency` and `export`.

Why one layer: blocks timed for a latency table, whole subnets timed by `latency validate` and
`search --verify`, files checked and benchmarked by `export` must all run with the same session
settings (threads, sequential execution, graph optimisations, the same interpreter and delegate),
or a table predicts a different program from the one that ships. So this package is the only
place that opens onnxruntime sessions and LiteRT interpreters, and the only place that turns a
torch module into the file a runtime reads (ONNX opset 17, fp32 TFLite):

- `sessions`: open a session / an interpreter, runtime versions, the host CPU's name;
- `models`: a loaded `.onnx` / `.tflite` file with one call interface (float32 NCHW in, logits out);
- `convert`: module -> ONNX bytes / file, module -> fp32 `.tflite` (torch and litert-torch, lazily);
- `quiet`: keep converters' and runtimes' console noise (C++ logs on fds 1 and 2) out of ours.

It imports nothing of `latency`, `export` or `devices` (tests/test_import_layers.py checks it);
nothing is imported here, so that importing one module pulls in only its runtime.
`devices/remote_runner.py`, the standalone script copied to boards and phones, keeps its own
session code: it must run there with the standard library, numpy and one runtime only.
"""
