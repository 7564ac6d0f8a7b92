"""The names a user chooses from: restoration methods, engines, precisions, the default model.

The command line builds its options from these before it knows which command runs, so this
module imports nothing: ``midnet --help`` must not wait for torch or scikit-image to load.
The modules that implement each choice import its names from here, so that each list is
written once.
"""

from __future__ import annotations

NETWORK = "midnet"  # the method name of "restore with a network"
CLASSICAL_METHODS: tuple[str, ...] = ("wiener", "richardson-lucy", "unsharp")  # classical deconvolutions
INPUT = "input"  # no restoration: the blurry frame as it is, the baseline of every comparison
METHODS: tuple[str, ...] = (NETWORK, *CLASSICAL_METHODS)  # what --method of deblur and eval takes

DEFAULT_MODEL = "midnet-sem"  # the shipped model every command uses unless told otherwise
EXPORTED_ENGINES: tuple[str, ...] = ("onnx", "openvino")  # runtimes that run the network's exported graph
ENGINE_NAMES: tuple[str, ...] = ("torch", *EXPORTED_ENGINES)  # "torch": the network itself
DEFAULT_ENGINE = "auto"  # measured fastest at equal quality (docs/performance.md)
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16", "auto")

REGIONS: tuple[str, ...] = ("all", "registered")  # what `midnet eval --region` scores
REGISTERED_PX = 0.5  # a square whose measured shift is at most this is registered (eval --region registered)
REGISTERED_PATCH = 96  # the squares it is measured on: half the training crop, as the residual report's
WORTH_RESTORING_PX = 1.7  # `midnet score`'s "worth restoring" line in blur px (midnet/quality/focus.py says why)
