"""Start ImageJ inside this Python process: ImageJ2/Fiji through pyimagej when a local Fiji is given, otherwise
plain ImageJ 1.x (``ij.jar``) through JPype. The CARE bridge is installed on top by :mod:`.host`.

Only :func:`_start_imagej2` knows about ImageJ2; everything else talks to ImageJ 1.x classes (``ij.IJ``,
``ij.ImagePlus``), which Fiji contains too.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CareBridgeError

IJ_JAR_CANDIDATES = ("/usr/share/java/ij.jar", "/usr/share/imagej/ij.jar")
_SESSION: ImageJSession | None = None


@dataclass
class ImageJSession:
    """A running ImageJ: ``flavor`` is ``"imagej1"`` or ``"imagej2"``; ``gateway`` is pyimagej's gateway
    (ImageJ2 only, else None)."""

    flavor: str
    gateway: Any = None
    ij_jar: str | None = None
    headless: bool = False

    @property
    def IJ(self):  # noqa: N802 - the Java class name
        """The ``ij.IJ`` class (ImageJ 1.x API, also inside Fiji)."""
        import jpype

        return jpype.JClass("ij.IJ")


def find_ij_jar(ij_jar: str | os.PathLike | None = None) -> Path:
    """``ij_jar``, else ``$CARE_BRIDGE_IJ_JAR``, else Debian's ``/usr/share/java/ij.jar``."""
    for cand in (ij_jar, os.environ.get("CARE_BRIDGE_IJ_JAR"), *IJ_JAR_CANDIDATES):
        if cand and Path(cand).is_file():
            return Path(cand)
    raise CareBridgeError(
        "ImageJ (ij.jar) not found; install it (apt-get install imagej) or set CARE_BRIDGE_IJ_JAR=/path/ij.jar"
    )


def current_session() -> ImageJSession | None:
    """The session started in this process, if any (one JVM per process)."""
    return _SESSION


def start_imagej(
    fiji: str | os.PathLike | None = None,
    *,
    ij_jar: str | os.PathLike | None = None,
    headless: bool | None = None,
) -> ImageJSession:
    """Start ImageJ once per process (no bridge; :func:`care_bridge.fiji.host.start_imagej` adds it).

    ``fiji`` (or ``$CARE_BRIDGE_FIJI``): a local ``Fiji.app`` → ImageJ2 through ``imagej.init``. Without one,
    ``ij.jar`` is started through JPype; we never let pyimagej download an ImageJ2 from Maven on its own.
    ``headless`` defaults to True when there is no ``$DISPLAY``; ImageJ 1.x macros need an X server for menu
    commands (use ``xvfb-run``).
    """
    global _SESSION
    if _SESSION is not None:
        return _SESSION
    if headless is None:
        headless = not os.environ.get("DISPLAY")
    fiji = fiji or os.environ.get("CARE_BRIDGE_FIJI")
    if fiji:
        session = _start_imagej2(Path(fiji), headless)
    else:
        session = _start_imagej1(find_ij_jar(ij_jar), headless)
    _SESSION = session
    return session


def _start_imagej1(jar: Path, headless: bool) -> ImageJSession:
    import jpype
    import jpype.imports  # noqa: F401 - enables `from ij import ...`

    if jpype.isJVMStarted():
        jpype.addClassPath(str(jar))  # effective only if ij is not loaded yet; fine for a fresh class loader
    else:
        if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
            raise CareBridgeError("no Java found; install a JRE (apt-get install default-jre-headless)")
        args = ["-Djava.awt.headless=true"] if headless else []
        try:
            jpype.startJVM(*args, classpath=[str(jar)], convertStrings=False)
        except Exception as e:  # JVMNotFoundException, OSError
            raise CareBridgeError(f"cannot start Java for ImageJ ({e}); install default-jre-headless") from e
    return ImageJSession("imagej1", None, str(jar), headless)


def _start_imagej2(fiji: Path, headless: bool) -> ImageJSession:
    """The only ImageJ2-specific start-up: pyimagej with a local Fiji, no downloads (not testable here)."""
    if not fiji.is_dir():
        raise CareBridgeError(f"Fiji folder {fiji} does not exist; give the path to Fiji.app or unset CARE_BRIDGE_FIJI")
    try:
        import imagej
        import scyjava
    except ImportError as e:
        raise CareBridgeError("pyimagej is not installed; pip install 'care_bridge[fiji]'") from e
    scyjava.config.set_java_constraints(fetch="auto")  # "never" crashes pyimagej 1.8.0 (NOTES.md)
    try:
        gateway = imagej.init(str(fiji), mode="headless" if headless else "interactive", add_legacy=True)
    except Exception as e:
        raise CareBridgeError(f"pyimagej could not start Fiji at {fiji} ({type(e).__name__}: {e})") from e
    return ImageJSession("imagej2", gateway, None, headless)
