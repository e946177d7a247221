"""OpenCV's own log lines (``[ WARN:0@0.168] global grfmt_png.cpp:793 ... PNG input buffer is incomplete``).

OpenCV prints them straight to stderr, before vsr's own one-line error about the
same file. Like FFmpeg's (:func:`vsr.io.set_ffmpeg_logging`), the command line
hides them unless ``-v``/``--debug`` asks for them. Importing this module does not
import OpenCV: ``vsr models`` sets the level without paying for it.
"""

from __future__ import annotations

import os
import sys

__all__ = ["OPENCV_LOG_ENV", "set_opencv_logging"]

#: OpenCV reads its log level from this variable once, when it is first imported.
OPENCV_LOG_ENV = "OPENCV_LOG_LEVEL"

#: The value :func:`set_opencv_logging` last wrote (a different value was the user's).
_written: str | None = None


def set_opencv_logging(verbose: bool) -> None:
    """Show OpenCV's own warnings and errors (``verbose``) or hide them.

    vsr reports what matters of them itself (an image that cannot be decoded). A
    ``OPENCV_LOG_LEVEL`` the user set is left alone. Before OpenCV is imported this
    sets that variable (read at import); afterwards it sets OpenCV's level directly.
    """
    global _written
    current = os.environ.get(OPENCV_LOG_ENV)
    if current is not None and current != _written:
        return
    level = "WARNING" if verbose else "SILENT"
    os.environ[OPENCV_LOG_ENV] = _written = level
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.utils.logging.setLogLevel(getattr(cv2.utils.logging, f"LOG_LEVEL_{level}"))
