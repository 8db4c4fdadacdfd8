"""Export a static subnet to the files that ship: ONNX (onnxruntime) and TFLite (LiteRT), verified.

One job per module; nothing is imported here, so that importing a submodule pulls in only what
that job needs (litert-torch alone takes seconds to load):

- `pipeline`: subnet file + supernet -> file + report (`plan_export`, `run_export`)
- `targets`: format / precision choices, output names; `inputs`: the images an export uses
- `onnx`, `tflite`, `quantize`: the converters; `quiet`: keeps their console noise out of ours
- `runtime`: run an exported file (and the LiteRT timing backend); `verify`: metrics, tolerances
- `report`: `<file>.report.json`; `benchmark`: measured vs predicted latency of a file
"""
