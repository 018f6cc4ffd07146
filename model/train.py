"""Training: Gaussian heat-map targets, MSE, AdamW with a one-cycle schedule, an exponential
moving average (EMA) of the weights for evaluation, early stopping, resumable checkpoints.

`train()` is plain library code; the CLI gives it a Reporter that draws rich progress.
"""

from __future__ import annotations

import copy
import csv
import math
import os
import platform
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, WeightedRandomSampler

from .data import AugmentConfig, NoseDataset, Sample, SkippedSample, load_samples, model_view, split_names
from .evaluate import EvalSummary, footage_cases, predict, predict_footage, summarize, summarize_footage
from .footage import FootageMix
from .frames import (
    FrameLabelsError, RealFrame, RealFrameDataset, choose_threshold, load_frames, predict_frames, read_frame_labels,
    score_frames, split_by_clip,
)
from .files import atomic_path, atomic_text, check_outputs, os_reason
from .heatmap import render_targets
from .labels import read_labels
from .devices import resolve_device, resolve_precision
from .localizer import Localizer
from .torch_backend import autocast_dtype
from .architecture import NetConfig
from .net import NoseNet, normalize
from .plots import plot_history, plot_panels
from .weights import ModelInfo, WeightsError, load_model, save_weights


# Settings a resumed run must share with the checkpoint (they shape the schedule or the data).
# Losses are read back every this many steps: reading one waits for the device to finish the
# step, so reading every step would stall a GPU's queue of launched work.
LOSS_READ_STEPS = 20
CHECKPOINT_KEYS = ("input_size", "epochs", "batch_size", "sigma", "final_batchnorm", "val_fraction", "split_seed",
                   "real_share", "epoch_size", "real_train_clips")


class TrainingError(Exception):
    """Training cannot start or continue; the message says why."""


@dataclass
class TrainConfig:
    images: Path
    labels: Path
    out: Path
    epochs: int = 150
    batch_size: int = 32
    lr: float = 1e-3  # peak of the one-cycle schedule
    weight_decay: float = 1e-4
    sigma: float = 7.0  # heat-map Gaussian, model pixels; sigma=3 collapsed to all-zero maps
    input_size: int = 256
    val_fraction: float = 0.1
    split_seed: int = 0  # the validation split depends on this and the image names only
    seed: int = 0  # weights init, shuffling, augmentation
    patience: int = 25  # epochs without a better validation mean before stopping
    ema_decay: float = 0.999
    # Extra weight on pixels near the nose: loss = mean((1 + fg_weight * target) * error^2).
    # 0 is the plain MSE. A positive weight shortens the early plateau where the network outputs
    # an all-zero map (the whole-map MSE barely notices a missing 7-pixel blob).
    fg_weight: float = 0.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # Footage-like views (small pets on video-aspect canvases, several pets, no nose, degraded):
    # None trains on portraits only. With it, the weights kept are those with the best footage
    # score (see _score) and the presence threshold is chosen on the footage validation set.
    footage: FootageMix | None = None
    device: str = "auto"
    precision: str = "auto"  # autocast: bf16 on CUDA and on CPUs with native bf16, else fp32
    workers: int = -1  # data-loading processes; -1 = pick for the device
    resume: bool = False
    final_batchnorm: bool = False
    # Start from these weights instead of random ones (fine-tuning, e.g. at a larger input size:
    # the network is fully convolutional, so weights trained at one size load at any other).
    init_weights: Path | None = None
    # Hand-labelled video frames (footage labels files, model/frames.py): split by clip, mixed into
    # training at `real_share` of the views, and, when any are held out, the judge of every epoch
    # and of the presence threshold (the frames right by the footage rule).
    real_labels: list[Path] = field(default_factory=list)
    videos: Path | None = None  # where the labels files' clips are, when not beside them
    real_share: float = 0.4
    real_val_fraction: float = 0.2  # of the clips
    real_train_clips: int = 0  # train on this many of the training clips only (0: all); learning curves
    # The presence threshold chosen on the held-out real frames keeps a point on at least this
    # share of the validation portraits (docs/model.md measures what it costs on real frames).
    portraits_kept: float = 0.995
    # Views per epoch (0: one per training portrait). With real frames the views are drawn with
    # replacement at the shares above.
    epoch_size: int = 0

    @property
    def checkpoint_path(self) -> Path:
        return self.out.with_suffix(".checkpoint.pt")

    def artifact(self, kind: str) -> Path:
        """Side outputs next to the weights: NAME.loss.png, NAME.heatmaps.png, NAME.history.csv."""
        return self.out.with_name(f"{self.out.stem}.{kind}")


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_mean: float  # model pixels
    val_median: float
    pck10: float
    val_mean_px: float  # original pixels
    footage_accuracy: float  # share of footage validation views right at `threshold` (nan without footage)
    threshold: float  # presence threshold chosen on the footage validation set (0 without footage)
    lr: float
    seconds: float
    real_right: float = float("nan")  # share of held-out real frames right at `threshold` (nan without them)


@dataclass
class TrainResult:
    best: EpochRecord | None
    summary: EvalSummary | None
    epochs_run: int
    stopped_early: bool
    weights: Path
    n_train: int
    n_val: int
    skipped: list[SkippedSample]


class Reporter(Protocol):
    def begin(self, total_epochs: int, start_epoch: int, steps_per_epoch: int, description: str) -> None: ...
    def steps(self, losses: list[float]) -> None: ...  # the losses of the steps done since the last call
    def epoch(self, record: EpochRecord, improved: bool) -> None: ...
    def note(self, text: str) -> None: ...


class SilentReporter:
    def begin(self, *args: object) -> None: ...
    def steps(self, losses: list[float]) -> None: ...
    def epoch(self, record: EpochRecord, improved: bool) -> None: ...
    def note(self, text: str) -> None: ...


class ModelEma:
    """Exponential moving average of a model's weights, with a warm-up so that short runs are
    not dominated by the random initial weights."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.module = copy.deepcopy(model).eval()
        self.module.requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        # One fused kernel over all parameters rather than ~160 small ones.
        torch._foreach_lerp_(list(self.module.parameters()), [p.detach() for p in model.parameters()], 1.0 - decay)
        for ema_b, b in zip(self.module.buffers(), model.buffers()):
            ema_b.copy_(b)


def heatmap_loss(output: torch.Tensor, target: torch.Tensor, fg_weight: float = 0.0) -> torch.Tensor:
    """MSE between predicted and target heat-maps, optionally weighted towards the nose."""
    squared = (output - target) ** 2
    if fg_weight:
        squared = squared * (1.0 + fg_weight * target)
    return squared.mean()


def _score(record: EpochRecord) -> float:
    """Higher is better. Portraits only: minus the validation mean. With footage: the share of
    footage views right, less 1 point per model pixel of portrait mean error, so a footage gain
    cannot hide a portrait regression."""
    if not math.isnan(record.real_right):
        return record.real_right - 0.01 * record.val_mean
    if math.isnan(record.footage_accuracy):
        return -record.val_mean
    return record.footage_accuracy - 0.01 * record.val_mean


def _seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def load_split(config: TrainConfig, reporter: Reporter) -> tuple[list[Sample], list[Sample], list[SkippedSample]]:
    """The labelled images of `config`, read and split into training and validation sides."""
    if not Path(config.images).is_dir():
        raise TrainingError(f"{config.images}: not a folder of images")
    if not Path(config.labels).is_file():
        raise TrainingError(f"{config.labels}: no such label file")
    try:
        label_file = read_labels(config.labels)
    except OSError as exc:
        raise TrainingError(f"{config.labels}: cannot read it: {os_reason(exc)}") from exc
    for problem in label_file.problems:
        reporter.note(f"skipped label line: {problem.describe(config.labels)}")
    max_side = int(math.ceil(config.input_size * (1.0 + config.augment.scale))) + 2
    samples, skipped = load_samples(config.images, label_file.labels, max_side)
    for item in skipped:
        reporter.note(f"skipped image: {config.images}/{item.name} (label line {item.line}): {item.reason}")
    if len(samples) < 3:
        raise TrainingError(f"only {len(samples)} usable labelled images; at least 3 are needed")
    train_names, val_names = split_names([s.name for s in samples], config.val_fraction, config.split_seed)
    train_set = [s for s in samples if s.name in train_names]
    val_set = [s for s in samples if s.name in val_names]
    if not val_set:
        raise TrainingError("the validation split is empty; use a --val-fraction above 0")
    return train_set, val_set, skipped


def load_real_split(config: TrainConfig, reporter: Reporter) -> tuple[list[RealFrame], list[RealFrame]]:
    """The labelled real frames of `config`, split by clip into training and validation sides."""
    frames: list[RealFrame] = []
    for path in config.real_labels:
        try:
            label_file = read_frame_labels(Path(path))
        except FrameLabelsError as exc:
            raise TrainingError(str(exc)) from exc
        for problem in label_file.problems:
            reporter.note(f"skipped label row: {problem.describe(path)}")
        loaded, skipped = load_frames(label_file, config.videos)
        for item in skipped:
            reporter.note(f"skipped frame: {item.describe(path)}")
        frames += loaded
    if config.real_labels and not frames:
        raise TrainingError(f"no usable labelled frame in {', '.join(map(str, config.real_labels))}")
    return split_by_clip(frames, config.real_val_fraction, config.split_seed, config.real_train_clips)


def _write_history(history: list[EpochRecord], path: Path) -> None:
    with atomic_text(path) as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(history[0]).keys()))
        writer.writeheader()
        writer.writerows(asdict(r) for r in history)


def _load_initial_weights(model: NoseNet, path: Path, net_config: NetConfig) -> None:
    """Copy a weights file's tensors into a fresh network; only the head layout must agree."""
    try:
        source, info = load_model(path)
    except WeightsError as exc:
        raise TrainingError(f"--init-weights: {exc}") from exc
    if info.net.final_batchnorm != net_config.final_batchnorm:
        raise TrainingError(
            f"{path}: cannot start from it: final_batchnorm={info.net.final_batchnorm} in the file, "
            f"{net_config.final_batchnorm} in this run"
        )
    model.load_state_dict(source.state_dict())


def _checkpoint_compatible(saved: dict, config: TrainConfig) -> None:
    for key in CHECKPOINT_KEYS:
        if saved.get(key) != getattr(config, key):
            raise TrainingError(
                f"{config.checkpoint_path}: cannot resume, it was made with {key}={saved.get(key)!r} "
                f"but this run has {key}={getattr(config, key)!r}"
            )


def _check_outputs(config: TrainConfig) -> None:
    """Before any work: no output of training (weights, checkpoint, history, plots) may replace
    one of its inputs (the label file, an image, the initial weights) or be unwritable."""
    images = Path(config.images)
    inputs = [Path(config.labels), *map(Path, config.real_labels), *([Path(config.init_weights)] if config.init_weights else [])]
    if images.is_dir():
        inputs += [entry for entry in images.iterdir() if entry.is_file()]
    outputs = [config.out, config.checkpoint_path, *(config.artifact(kind) for kind in ("loss.png", "heatmaps.png", "history.csv"))]
    check_outputs(outputs, inputs)


def train(config: TrainConfig, reporter: Reporter | None = None,
          stop_requested: Callable[[], bool] = lambda: False) -> TrainResult:
    """Train as `config` says. `stop_requested` is checked after every step and every epoch's
    checkpoint; when it says True the run ends with KeyboardInterrupt (as Ctrl-C would), keeping
    the best weights and the last checkpoint (a Ctrl-C that Python lost still stops the run:
    pipelines/interrupts.py)."""
    reporter = reporter or SilentReporter()
    config.out = Path(config.out)
    _check_outputs(config)
    generator = _seed_everything(config.seed)
    try:
        device = torch.device(resolve_device(config.device))
        precision = resolve_precision(config.precision, str(device))
        autocast = autocast_dtype(precision)
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc
    train_set, val_set, skipped = load_split(config, reporter)
    real_train, real_val = load_real_split(config, reporter)

    batch_size = min(config.batch_size, len(train_set) + len(real_train))
    workers = config.workers if config.workers >= 0 else (min(8, os.cpu_count() or 1) if device.type == "cuda" else 1)
    portraits = NoseDataset(train_set, config.input_size, config.augment, config.footage)
    epoch_size = config.epoch_size or len(train_set)
    if real_train:
        # Each view is a portrait (or a composite made from one) or a real frame, at real_share.
        share = config.real_share
        weights = [(1 - share) / len(train_set)] * len(train_set) + [share / len(real_train)] * len(real_train)
        dataset = ConcatDataset([portraits, RealFrameDataset(real_train, config.input_size)])
        sampler = WeightedRandomSampler(weights, epoch_size, replacement=True, generator=generator)
        loader_order = {"sampler": sampler}
    elif config.epoch_size:
        dataset = portraits
        loader_order = {"sampler": torch.utils.data.RandomSampler(portraits, replacement=True, num_samples=epoch_size,
                                                                  generator=generator)}
    else:
        dataset, loader_order = portraits, {"shuffle": True, "generator": generator}
    loader = DataLoader(
        dataset, batch_size=batch_size, drop_last=True, num_workers=workers,
        persistent_workers=workers > 0, pin_memory=device.type == "cuda", **loader_order,
    )
    steps_per_epoch = len(loader)
    # Held-out real frames judge each epoch when there are any; the composites then are not scored
    # every epoch (they cost a minute an epoch on a CPU; `pettrack eval` scores them).
    footage_val = footage_cases(val_set, config.input_size, config.split_seed) if config.footage and not real_val else []

    net_config = NetConfig(config.input_size, config.final_batchnorm)
    model = NoseNet(net_config)
    if config.init_weights is not None:
        _load_initial_weights(model, Path(config.init_weights), net_config)
        reporter.note(f"initial weights from {config.init_weights}")
    model = model.to(device).to(memory_format=torch.channels_last)
    ema = ModelEma(model, config.ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.15
    )
    scaler = torch.amp.GradScaler(device.type, enabled=autocast == torch.float16)

    history: list[EpochRecord] = []
    best: EpochRecord | None = None
    best_summary: EvalSummary | None = None
    start_epoch, bad_epochs = 1, 0
    if config.resume:
        if not config.checkpoint_path.is_file():
            raise TrainingError(f"{config.checkpoint_path}: no checkpoint to resume from")
        # To the CPU: the RNG states must stay CPU tensors; load_state_dict moves the rest.
        state = torch.load(config.checkpoint_path, map_location="cpu", weights_only=True)
        _checkpoint_compatible(state["config"], config)
        model.load_state_dict(state["model"])
        ema.module.load_state_dict(state["ema"])
        ema.updates = state["ema_updates"]
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        history = [EpochRecord(**r) for r in state["history"]]
        best = EpochRecord(**state["best"]) if state["best"] else None
        bad_epochs = state["bad_epochs"]
        start_epoch = state["epoch"] + 1
        torch.set_rng_state(state["rng"])
        generator.set_state(state["loader_rng"])
        reporter.note(f"resumed from {config.checkpoint_path} after epoch {state['epoch']}")

    info = ModelInfo(
        net=net_config, sigma=config.sigma,
        training={
            "data": {"images": str(config.images), "labels": str(config.labels),
                     "train_images": len(train_set), "val_images": len(val_set), "skipped": len(skipped),
                     **({"real_labels": [str(p) for p in config.real_labels],
                         "real_train_frames": len(real_train), "real_val_frames": len(real_val),
                         "real_train_clips": sorted({f.clip for f in real_train}),
                         "real_val_clips": sorted({f.clip for f in real_val})} if config.real_labels else {})},
            "recipe": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()
                       if k not in ("images", "labels", "out", "resume", "device", "workers", "real_labels")},
            "hardware": _hardware(device),
            "torch": torch.__version__,
        },
    )
    reporter.begin(
        config.epochs, start_epoch, steps_per_epoch,
        f"{len(train_set)} training / {len(val_set)} validation images, {len(skipped)} skipped, "
        + (f"{len(real_train)} / {len(real_val)} real frames, " if config.real_labels else "") +
        f"device {device}, precision {precision}, batch {batch_size}",
    )
    started = time.time()
    epoch = start_epoch - 1
    stopped_early = False
    for epoch in range(start_epoch, config.epochs + 1):
        epoch_start = time.time()
        model.train()
        losses: list[float] = []
        unread: list[torch.Tensor] = []  # losses still on the device
        for images, points in loader:
            x = normalize(images.to(device, non_blocking=True))
            target = render_targets(points.to(device, non_blocking=True), config.input_size, config.sigma)
            with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
                output = model(x)
            loss = heatmap_loss(output.float(), target, config.fg_weight)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            ema.update(model)
            unread.append(loss.detach())
            if len(unread) == LOSS_READ_STEPS:
                losses += _read(unread, reporter)
            if stop_requested():
                raise KeyboardInterrupt
        losses += _read(unread, reporter)

        # A new Localizer each epoch: it runs a BatchNorm-folded copy of the EMA weights as they are now.
        evaluator = Localizer.from_model(ema.module, info, str(device), precision)
        portrait_predictions = predict(evaluator, val_set, batch_size=64)
        summary = summarize(portrait_predictions)
        footage = summarize_footage(predict_footage(evaluator, footage_val, batch_size=64)) if footage_val else None
        real = None
        if real_val:
            results = predict_frames(evaluator, real_val, batch_size=32)
            portrait_confidences = np.array([p.confidence for p in portrait_predictions])
            real = score_frames(results, choose_threshold(results, portrait_confidences, config.portraits_kept))
        threshold = real.threshold if real else footage.threshold if footage else 0.0
        record = EpochRecord(
            epoch, float(np.mean(losses)), summary.model.mean, summary.model.median,
            summary.pck["pck@10"], summary.pixels.mean,
            footage.accuracy if footage else float("nan"), threshold,
            scheduler.get_last_lr()[0], time.time() - epoch_start, real.right if real else float("nan"),
        )
        history.append(record)
        improved = best is None or _score(record) > _score(best)
        if improved:
            best, best_summary, bad_epochs = record, summary, 0
            info.presence_threshold = record.threshold
            info.metrics = {"epoch": epoch, **summary.to_dict(), **({"footage": footage.to_dict()} if footage else {}),
                            **({"real_frames": real.to_dict()} if real else {})}
            info.training["seconds"] = round(time.time() - started, 1)
            info.training["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            save_weights(config.out, ema.module, info)
        else:
            bad_epochs += 1
        _save_checkpoint(config, model, ema, optimizer, scheduler, scaler, history, best, bad_epochs, epoch, generator)
        _write_history(history, config.artifact("history.csv"))
        plot_history([r.epoch for r in history], [r.train_loss for r in history],
                     [r.val_mean for r in history], config.artifact("loss.png"))
        reporter.epoch(record, improved)
        if stop_requested():
            raise KeyboardInterrupt
        if bad_epochs >= config.patience:
            stopped_early = True
            reporter.note(f"early stop: no better validation error for {config.patience} epochs")
            break

    if config.out.is_file():
        _plot_validation_heatmaps(config, val_set, device)
    return TrainResult(best, best_summary, epoch, stopped_early, config.out, len(train_set), len(val_set), skipped)


def _read(unread: list[torch.Tensor], reporter: Reporter) -> list[float]:
    """Bring the losses of several steps to the host at once (and report them); empties `unread`."""
    if not unread:
        return []
    values = torch.stack(unread).float().cpu().tolist()
    unread.clear()
    reporter.steps(values)
    return values


def _save_checkpoint(config, model, ema, optimizer, scheduler, scaler, history, best, bad_epochs, epoch, generator) -> None:
    """Everything needed to continue, in a file torch.load(weights_only=True) can read."""
    state = {
        "config": {k: getattr(config, k) for k in CHECKPOINT_KEYS},
        "model": model.state_dict(),
        "ema": ema.module.state_dict(),
        "ema_updates": ema.updates,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "history": [asdict(r) for r in history],
        "best": asdict(best) if best else None,
        "bad_epochs": bad_epochs,
        "epoch": epoch,
        "rng": torch.get_rng_state(),
        "loader_rng": generator.get_state(),
    }
    with atomic_path(config.checkpoint_path) as tmp:
        torch.save(state, tmp)


def _plot_validation_heatmaps(config: TrainConfig, val_set: list[Sample], device: torch.device, count: int = 8) -> None:
    """The best model's heat-maps on a few validation images (the same ones every run)."""
    model, info = load_model(config.out, device)
    localizer = Localizer.from_model(model, info, str(device))
    chosen = sorted(val_set, key=lambda s: s.name)[:count]
    views = [model_view(s, config.input_size) for s in chosen]
    output = localizer.infer(np.stack([v for v, _ in views]), heatmaps=True)
    titles = [
        f"{s.name}\nerror {np.hypot(*(p - t)):.1f} px, conf {c:.2f}"
        for s, (_, t), p, c in zip(chosen, views, output.points, output.confidence)
    ]
    plot_panels([v for v, _ in views], [tuple(t) for _, t in views], [tuple(p) for p in output.points],
                titles, config.artifact("heatmaps.png"), heatmaps=list(output.heatmaps))
