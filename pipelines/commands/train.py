"""`pettrack train`: a model trained on labelled photos (and frames); model/train.py does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


from ..console import err, fail
from .common import EXIT_FAILED, EXIT_INTERRUPTED, outputs_refused


def run(
    *,
    images: Path,
    labels: Path,
    out_file: Path,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    sigma: float,
    input_size: int,
    val_fraction: float,
    seed: int,
    patience: int,
    ema_decay: float,
    fg_weight: float,
    no_augment: bool,
    footage: bool,
    device: str,
    precision: str,
    workers: int,
    resume: bool,
    init_weights: Optional[Path],
    footage_labels: list[Path],
    videos: Optional[Path],
    real_share: float,
    real_val_fraction: float,
    real_train_clips: int,
    epoch_size: int,
    portraits_kept: float,
) -> None:
    """Train the nose localizer; writes weights, a checkpoint, a loss plot and heat-map pictures."""
    from pettrack.model.data import AugmentConfig
    from pettrack.model.footage import FootageMix
    from pettrack.model.train import TrainConfig, TrainingError, train

    from ..console import RichTrainReporter
    from ..interrupts import ctrl_c_requests

    if footage and no_augment:
        fail("--footage builds augmented footage views; it cannot be combined with --no-augment")
        raise typer.Exit(2)
    config = TrainConfig(
        images=images, labels=labels, out=out_file, epochs=epochs, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, sigma=sigma, input_size=input_size, val_fraction=val_fraction,
        seed=seed, patience=patience, ema_decay=ema_decay, fg_weight=fg_weight,
        augment=AugmentConfig.none() if no_augment else AugmentConfig(),
        footage=FootageMix() if footage else None,
        device=device, precision=precision, workers=workers, resume=resume, init_weights=init_weights,
        real_labels=list(footage_labels), videos=videos, real_share=real_share, real_val_fraction=real_val_fraction,
        real_train_clips=real_train_clips, epoch_size=epoch_size, portraits_kept=portraits_kept,
    )
    try:
        with outputs_refused(), ctrl_c_requests() as stop_requested, RichTrainReporter() as reporter:
            result = train(config, reporter, stop_requested)
    except (TrainingError, ValueError) as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_FAILED) from exc
    except KeyboardInterrupt:
        err.print(f"interrupted; best weights so far in {out_file}, resume with --resume")
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.best is None:
        fail("no epoch completed")
        raise typer.Exit(EXIT_FAILED)
    b = result.best
    err.print(
        f"best epoch {b.epoch}: validation mean {b.val_mean:.2f} px, median {b.val_median:.2f} px (model space), "
        f"PCK@10 {b.pck10:.1%}; weights in {out_file}; plots {config.artifact('loss.png').name}, "
        f"{config.artifact('heatmaps.png').name}",
        highlight=False,
    )
