"""Models in from, and out to, other frameworks: `mocha.interop.caffe`, `mocha.interop.onnx`."""
