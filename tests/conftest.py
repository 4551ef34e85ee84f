"""Shared fixtures: the real face data beside the repository, SDL without a screen, huge PNGs.

Tests that need ``../shared/faces`` skip with a clear reason when it is absent (a user's
clone has no ``../shared``), except under CI (``CI=true``), where a missing folder is a failure.
"""

import math
import os
import struct
import zlib
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

REPO = Path(__file__).resolve().parent.parent
SHARED_FACES = REPO.parent / "shared" / "faces"


def require_shared(relative: str = "") -> Path:
    """The path under ../shared/faces, or skip (fail under CI) when it is not there."""
    path = SHARED_FACES / relative
    if not path.exists():
        reason = f"real face data not found at {path} (the repository's ../shared/faces)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must have it")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def samples() -> Path:
    """face_recognition's example photos and the Hamilton clip."""
    return require_shared("samples")


@pytest.fixture(scope="session")
def lfw() -> Path:
    """The lfw-dev split: people/, strangers/, pairs."""
    return require_shared("lfw-dev")


def cli_runner():
    """A click test runner that keeps stdout and stderr apart on every click version
    (click < 8.2 mixes them unless asked not to; 8.2 always keeps both)."""
    from click.testing import CliRunner

    try:
        return CliRunner(mix_stderr=False)
    except TypeError:
        return CliRunner()


def flat_png(path, width, height):
    """A valid RGB PNG of black pixels, however large, in about 1 MB per 250 megapixels and a
    second: a block of rows deflated once, its compressed bytes repeated (a full flush makes
    them independent of what came before)."""
    rows = math.gcd(height, 100)
    block = bytes((1 + 3 * width) * rows)  # each row: filter byte 0, then black pixels
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(height // rows):
        checksum = zlib.adler32(block, checksum)
    stream = (b"\x78\xda" + deflated * (height // rows) + b"\x03\x00"  # an empty final block
              + struct.pack(">I", checksum))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", stream)
                     + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server for the whole session (tests/postgres.py)."""
    from postgres import ThrowawayServer, require_server_programs

    server = ThrowawayServer(require_server_programs())
    yield server
    server.close()


@pytest.fixture
def server_address(postgres, request):
    """The address of a new, empty database on the session's server, for one test."""
    from greeter.settings import ServerAddress

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[-50:].lower()
    postgres.sql(f"DROP DATABASE IF EXISTS {name}", database="postgres")
    postgres.sql(f"CREATE DATABASE {name}", database="postgres")
    return ServerAddress.parse(postgres.url(name))
