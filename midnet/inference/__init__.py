"""How a frame is restored: the settings, the restorer and everything it runs on.

``settings`` (``RestoreSettings``, the one value saying how to restore), ``restore``
(``make_restorer``, the one way to build a restorer; ``midnet.deblur``), ``tiling`` (seamless
tiles with whole-frame statistics), ``fast`` and ``precision`` (the inference copy, bf16/fp16),
``engines``, ``onnx_graph`` and ``engine_choice`` (ONNX Runtime, OpenVINO, ``--engine auto``),
``cache`` (every derived artefact, keyed by the weights' SHA-256), ``devices``, ``classical``
(Wiener, Richardson-Lucy, unsharp masking) and ``runtime_info`` (versions and CPU flags).

May import: ``midnet.errors``, ``midnet.choices``, ``midnet.images``, ``midnet.models``.
"""
