"""Export a static subnet to the files that ship: ONNX (onnxruntime) and TFLite (LiteRT), verified."""
