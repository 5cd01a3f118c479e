"""Load whichever model format a directory holds: our bundle or the seed's checkpoint."""

from __future__ import annotations

from pathlib import Path

from caption.model.bundle import CONFIG_FILE, BundleError, load_bundle
from caption.model.captioner import Captioner
from caption.model.seed_checkpoint import SEED_FILES, CheckpointError, load_seed_checkpoint


def load_model(directory: Path) -> Captioner:
    directory = Path(directory)
    if (directory / CONFIG_FILE).exists():
        return load_bundle(directory)
    if any((directory / name).exists() for name in SEED_FILES):
        try:
            return load_seed_checkpoint(directory)
        except CheckpointError as exc:
            raise BundleError(str(exc)) from exc
    raise BundleError(f"no model at {directory}: expected {CONFIG_FILE} (a caption-lambda "
                      f"bundle) or {', '.join(SEED_FILES)} (a seed checkpoint)")
