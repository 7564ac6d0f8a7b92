"""The napari plugin's tests run on a real Qt with the offscreen platform.

vispy draws napari's canvas with OpenGL even offscreen, and Qt's offscreen platform gets
its OpenGL context from an X display: pytest-xvfb (the test extra) starts Xvfb for the
session, as napari's own CI runs its Qt tests under a virtual X server. Without napari
every module here skips; without an OpenGL context the viewer tests skip, or fail when
MIDNET_REQUIRE_GUI=1 (set by .ci/run, which installs Xvfb) so that CI cannot pass empty.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt or napari makes the QApplication


@pytest.fixture(scope="session")
def opengl(qapp) -> str:
    """The OpenGL version string of a context Qt can make current; skips (or fails in CI) without one."""
    from qtpy.QtGui import QOffscreenSurface, QOpenGLContext

    context, surface = QOpenGLContext(), QOffscreenSurface()
    surface.create()
    version = None
    if context.create() and context.makeCurrent(surface):
        from OpenGL import GL

        version = GL.glGetString(GL.GL_VERSION)
        context.doneCurrent()
    if not version:
        message = ("no OpenGL context for napari's canvas: install Xvfb (apt-get install xvfb) so pytest-xvfb "
                   "can start it, or run under xvfb-run")
        if os.environ.get("MIDNET_REQUIRE_GUI"):
            pytest.fail(message)
        pytest.skip(message)
    return version.decode() if isinstance(version, bytes) else str(version)


@pytest.fixture
def viewer(opengl, make_napari_viewer):
    return make_napari_viewer()
