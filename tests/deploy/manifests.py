"""The rendered overlays, once per test session, and what tests ask of them."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from snappy_devstack.deploy import K8S_DIR, OVERLAYS, PHASE_OVERLAYS, Rendered, documents, render

__all__ = ["RENDER_TARGETS", "clean_tree", "objects_of", "rendered", "target_name"]

# Every overlay `snappy deploy render` prints: each phase, and the two versions side by side.
RENDER_TARGETS: tuple[int | None, ...] = (*(overlay.phase for overlay in PHASE_OVERLAYS), None)
assert len(OVERLAYS) == len(PHASE_OVERLAYS) + 2


def target_name(phase: int | None) -> str:
    """A test id: phase-N or side-by-side."""
    return "side-by-side" if phase is None else f"phase-{phase}"


@functools.cache
def clean_tree() -> Path:
    """deploy/k8s as a clean clone has it: without the git-ignored site files a developer may have."""
    scratch = Path(tempfile.mkdtemp(prefix="snappy-clean-k8s-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    copy = scratch / "k8s"
    shutil.copytree(K8S_DIR, copy, ignore=shutil.ignore_patterns("*.env", "*.pem"))
    return copy


@functools.cache
def rendered(phase: int | None) -> Rendered:
    """The overlay rendered by `kubectl kustomize` from a clean tree: placeholder site values."""
    return render(phase, root=clean_tree())


def objects_of(phase: int | None, kind: str | None = None) -> Iterator[dict[str, Any]]:
    """The rendered objects of an overlay, of one kind if `kind` is given."""
    for item in documents(rendered(phase).manifests):
        if kind is None or item["kind"] == kind:
            yield item
