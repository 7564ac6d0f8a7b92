"""How good a restoration is, and how blurred a frame is.

``metrics`` and ``evaluate`` (whole-micrograph PSNR/SSIM on registered pairs), ``compare`` and
``figures`` (every method on the same micrographs; every picture), ``calibration`` (the
classical methods' parameters fitted on pairs), ``blur`` and ``blur_sweep`` (the blur width a
frame carries; a restorer at every width), ``focus`` (`midnet score`, the only-blurry triage)
and ``domain`` (is a frame like the ones a network was trained on?).

May import: ``midnet.errors``, ``midnet.choices``, ``midnet.images``, ``midnet.models``,
``midnet.inference``, ``midnet.data``.
"""
