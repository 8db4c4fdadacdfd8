"""Export a static subnet to the files that ship: ONNX (onnxruntime) and TFLite (LiteRT), verified.

One job per module; nothing is imported here, so that importing a submodule pulls in only what
that job needs (litert-torch alone takes seconds to load):

- `pipeline`: subnet file + supernet -> file + report (`plan_export`, `run_export`)
- `targets`: format / precision choices, output names; `inputs`: the images an export uses
- `quantize`: int8 / dynamic-range TFLite; `verify`: metrics, tolerances
- `report`: `<file>.report.json`

The fp32 converters, the sessions that run the files and the console-noise guard are the
`runtime` layer's (below `latency` and `export`, so that both time and ship the same files); the
measured-vs-predicted `benchmark` of a file is `devices.benchmark` (it reads tables and devices).
"""
