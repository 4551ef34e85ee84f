"""Shared fixtures: the real face data beside the repository, and SDL without a screen.

Tests that need ``../shared/faces`` skip with a clear reason when it is absent (a user's
clone has no ``../shared``), except under CI (``CI=true``), where a missing folder is a failure.
"""

import os
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
