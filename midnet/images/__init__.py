"""Micrograph files and their frames: what comes in and what goes out.

Reading and writing every format (``io``), the vendors' pixel size (``metadata``), the SEM
info bar (``infobar``), the percentile map that puts every frame on one scale
(``intensity``), atomic publishing of any file midnet writes (``publish``), and many files
as one batch that survives bad ones (``batch``, with its bars in ``progress``).

May import: ``midnet.errors``, ``midnet.choices``; nothing else of midnet.
"""
