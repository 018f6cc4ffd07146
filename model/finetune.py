"""Fine-tuning a model on a user's own labelled frames (`pettrack finetune`).

A user's machine has the labels they made with `pettrack label` and their clips, but none of our
training photos. What keeps the fine-tune near the model it starts from:
- BatchNorm statistics frozen at the base model's (a batch of one pet's frames would otherwise
  rewrite the statistics the whole network was trained with), always;
- a short schedule at a low rate (240 steps, peak 1e-4);
- optionally an L2 pull towards the base weights (L2-SP: the penalty is on the distance from the
  starting point, not from zero; `anchor`) and distillation of the base model's heat-maps on the
  user's unlabelled frames (`distill`). docs/finetune.md measures both: they cost the user's own
  clips more than they keep on other clips, so both are off by default, and the result is a model
  for the user's clips (the command says so).

The labelled frames are split by time: in each clip, every `held_out_every`-th labelled frame (in
frame order) is held out. The held-out frames judge the base model and the fine-tune, choose the
presence threshold and the step whose weights are kept. They are also what the fine-tune is
compared on: when it is right on fewer of them than the base model, it is not written unless the
user insists. (docs/finetune.md measures it on frames that are in no labels file at all.)
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from .frames import (
    FrameLabelsError, FrameResult, FrameScore, RealFrame, RealFrameDataset, SkippedFrame, choose_threshold, find_clip,
    load_frames, predict_frames, read_frame_labels, score_frames, unlabelled_frames,
)
from .heatmap import render_targets
from .labels import LabelProblem
from .devices import resolve_device, resolve_precision
from .localizer import Localizer
from .torch_backend import autocast_dtype
from .net import normalize
from .train import heatmap_loss
from .weights import ModelInfo, WeightsError, load_model, save_weights, weights_file


# Held-out frames needed before the presence threshold is chosen on them (else the starting
# model's is kept).
MIN_FRAMES_FOR_THRESHOLD = 4
# Peaks below this height are not kept when judging (far below any useful presence threshold).
LOWEST_PEAK = 0.05


class FinetuneError(Exception):
    """A fine-tune that cannot start: no usable frames, a bad labels file or base model."""


@dataclass
class FinetuneConfig:
    labels: Path
    out: Path
    weights: Path | None = None  # the base model (None: the shipped default)
    videos: Path | None = None  # where the labels file's clips are, when not beside it
    steps: int = 240
    batch_size: int = 16
    lr: float = 1e-4  # peak; warm-up then cosine decay
    # Strength of the pull towards the base weights: loss += anchor * sum((w - w_base)^2). Off by
    # default: docs/finetune.md measured that at strengths that keep more of the base model on
    # other clips (1e-3, 1e-2) the user's own clips gain much less (kitten 100% -> 80% right).
    anchor: float = 0.0
    # Weight of distillation: on frames of the user's clips that carry no label, the fine-tune is
    # also trained to give the base model's heat-maps (0: none). `distill_frames` per clip.
    distill: float = 0.0
    distill_frames: int = 32
    fg_weight: float = 10.0  # as the shipped models were trained (train --fg-weight)
    held_out_every: int = 4  # in each clip, every 4th labelled frame (in time) is held out
    eval_every: int = 40  # steps between judgements on the held-out frames
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    force: bool = False  # write the result even when it is worse than the base on the held-out frames


@dataclass(frozen=True)
class Judgement:
    """A model on the held-out frames, at its presence threshold."""

    step: int  # 0: the base model
    score: FrameScore
    placement: float  # share of nose frames whose highest peak is on a nose, whatever its height

    @property
    def key(self) -> tuple[float, float]:
        return (self.score.right, self.placement)


@dataclass
class FinetuneResult:
    before: Judgement
    after: Judgement  # the kept step's
    written: bool
    steps_done: int
    interrupted: bool
    train_frames: int
    held_out_frames: int
    skipped: list[SkippedFrame]
    problems: list[LabelProblem]
    seconds: float

    @property
    def worse(self) -> bool:
        return self.after.score.right < self.before.score.right


class FinetuneReporter(Protocol):
    def begin(self, total_steps: int, description: str) -> None: ...
    def step(self, loss: float) -> None: ...
    def judged(self, judgement: Judgement, kept: bool) -> None: ...


class SilentFinetuneReporter:
    def begin(self, total_steps: int, description: str) -> None: ...
    def step(self, loss: float) -> None: ...
    def judged(self, judgement: Judgement, kept: bool) -> None: ...


def split_by_time(frames: list[RealFrame], every: int) -> tuple[list[RealFrame], list[RealFrame]]:
    """(training, held out): in each clip, the labelled frames in frame order, every `every`-th
    held out. When that holds out nothing (no clip has `every` frames), the last frame of the
    clip with the most frames is held out, so there is always something to judge on."""
    by_clip: dict[str, list[RealFrame]] = {}
    for frame in frames:
        by_clip.setdefault(frame.clip, []).append(frame)
    train, held = [], []
    for clip in sorted(by_clip):
        ordered = sorted(by_clip[clip], key=lambda f: f.frame)
        for rank, frame in enumerate(ordered):
            (held if rank % every == every - 1 else train).append(frame)
    if not held and len(train) >= 2:
        biggest = max(sorted(by_clip), key=lambda clip: len(by_clip[clip]))
        last = max(by_clip[biggest], key=lambda f: f.frame)
        train.remove(last)
        held.append(last)
    return train, held


def judge(localizer: Localizer, frames: list[RealFrame], step: int, prefer: float) -> Judgement:
    """The model on `frames` at the threshold with the most of them right (the one nearest `prefer`
    among equals). The base model is judged at its own threshold, and so is every step when there
    are too few frames to choose one on (one held-out frame once moved it from 0.71 to 0.06,
    and half the no-nose frames got a point)."""
    results = predict_frames(localizer, frames, batch_size=16)
    choose = step and len(frames) >= MIN_FRAMES_FOR_THRESHOLD
    threshold = choose_threshold(results, np.array([]), prefer=prefer) if choose else prefer
    return Judgement(step, score_frames(results, threshold), _placement(results))


def _placement(results: list[FrameResult]) -> float:
    noses = [r for r in results if r.frame.has_nose]
    return float(np.mean([r.right(-1.0) for r in noses])) if noses else float("nan")


def _freeze_batchnorm(model: torch.nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()


def _learning_rate(step: int, total: int, peak: float) -> float:
    """Linear warm-up over the first 10% of the steps, then cosine decay to zero."""
    warm = max(1, total // 10)
    if step < warm:
        return peak * (step + 1) / warm
    return 0.5 * peak * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def load_user_frames(config: FinetuneConfig) -> tuple[list[RealFrame], list[SkippedFrame], list[LabelProblem]]:
    try:
        label_file = read_frame_labels(config.labels)
    except FrameLabelsError as exc:
        raise FinetuneError(str(exc)) from exc
    frames, skipped = load_frames(label_file, config.videos)
    return frames, skipped, label_file.problems


def finetune(config: FinetuneConfig, reporter: FinetuneReporter | None = None,
             stop_requested: Callable[[], bool] = lambda: False) -> FinetuneResult:
    """Fine-tune as `config` says. `stop_requested` is checked after every step; when it says True
    (or on Ctrl-C) the run ends early and keeps its best judged step, as Ctrl-C does."""
    reporter = reporter or SilentFinetuneReporter()
    started = time.time()
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    frames, skipped, problems = load_user_frames(config)
    train_frames, held = split_by_time(frames, config.held_out_every)
    if not train_frames or not held:
        raise FinetuneError(
            f"{config.labels}: {len(frames)} usable labelled frame(s); a fine-tune needs at least 2 "
            "(some to learn from, some held out to judge it): label more with `pettrack label`"
        )
    try:
        device = torch.device(resolve_device(config.device))
        precision = resolve_precision(config.precision, str(device))
        base_path = weights_file(config.weights)
        model, info = load_model(base_path, device)
    except (ValueError, WeightsError) as exc:
        raise FinetuneError(str(exc)) from exc
    if precision == "int8":
        raise FinetuneError("int8 is for inference; fine-tune in fp32 or bf16")
    autocast = autocast_dtype(precision)

    base_threshold = info.presence_threshold
    # Every peak from this height up is kept, so that any threshold the held-out frames choose
    # can be scored, several pets included.
    lowest = min(LOWEST_PEAK, base_threshold)

    def localizer() -> Localizer:
        # The torch backend: the model changes every step, OpenVINO would convert it each time.
        return Localizer.from_model(model, info, str(device), precision, min_confidence=lowest)

    before = judge(localizer(), held, 0, base_threshold)
    best: Judgement | None = None  # the best fine-tuned step so far, and its weights
    best_state: dict = {}

    anchor = [p.detach().clone() for p in model.parameters()] if config.anchor else []
    teacher = copy.deepcopy(model).eval() if config.distill else None
    distilled = _distillation_batches(config, frames, info.net.input_size, generator) if config.distill else None
    model.train()
    _freeze_batchnorm(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    batch = min(config.batch_size, max(2, len(train_frames)))
    sampler = torch.utils.data.RandomSampler(range(len(train_frames)), replacement=True,
                                             num_samples=config.steps * batch, generator=generator)
    loader = torch.utils.data.DataLoader(
        RealFrameDataset(train_frames, info.net.input_size), batch_size=batch, sampler=sampler, drop_last=True,
        num_workers=1, pin_memory=device.type == "cuda",
    )
    reporter.begin(config.steps, f"{len(train_frames)} frames to learn from, {len(held)} held out "
                                 f"({len({f.clip for f in frames})} clip(s)), device {device}, "
                                 f"precision {precision}")
    reporter.judged(before, kept=True)
    step, interrupted = 0, False
    try:
        for images, points in loader:
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(step, config.steps, config.lr)
            x = normalize(images.to(device))
            target = render_targets(points.to(device), info.net.input_size, info.sigma)
            unlabelled = normalize(next(distilled).to(device)) if distilled is not None else x[:0]
            with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
                output = model(torch.cat([x, unlabelled])).float()  # one pass over both kinds
                if len(unlabelled):
                    with torch.no_grad():
                        taught = teacher(unlabelled).float()
            loss = heatmap_loss(output[: len(x)], target, config.fg_weight)
            total = loss
            if anchor:
                total = total + config.anchor * sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor))
            if len(unlabelled):
                total = total + config.distill * heatmap_loss(output[len(x):], taught, config.fg_weight)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            step += 1
            reporter.step(float(loss.detach()))
            if step % config.eval_every == 0 or step == config.steps:
                now = judge(localizer(), held, step, base_threshold)
                # Ties go to the later step: a few held-out frames often tie, and the later weights
                # have seen more of the user's frames.
                kept = best is None or now.key >= best.key
                if kept:
                    best, best_state = now, copy.deepcopy(model.state_dict())
                reporter.judged(now, kept)
            if stop_requested():
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        interrupted = True

    written = False
    if best is None:
        raise KeyboardInterrupt  # stopped before the first judgement: nothing to keep
    if best.score.right >= before.score.right or config.force:
        model.load_state_dict(best_state)
        tuned = ModelInfo(
            net=info.net, sigma=info.sigma, presence_threshold=best.score.threshold,
            training={
                "finetune": {
                    "base": str(base_path.name if base_path.parent.name == "weights" else base_path),
                    "labels": str(config.labels), "train_frames": len(train_frames), "held_out_frames": len(held),
                    "clips": sorted({f.clip for f in frames}), "step_kept": best.step, "steps_done": step,
                    "recipe": {k: v for k, v in asdict(config).items() if k not in ("labels", "out", "weights", "videos")},
                    "seconds": round(time.time() - started, 1),
                    "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                },
                "base_training": info.training,
            },
            metrics={"held_out": {"before": best_metrics(before), "after": best_metrics(best)}},
        )
        save_weights(Path(config.out), model.eval(), tuned)
        written = True
    return FinetuneResult(before, best, written, step, interrupted, len(train_frames), len(held), skipped, problems,
                          time.time() - started)


def _distillation_batches(config: FinetuneConfig, frames: list[RealFrame], size: int, generator: torch.Generator):
    """Endless batches of views of the user's unlabelled frames (for the teacher to label)."""
    clips = {f.clip: find_clip(f.clip, Path(config.labels).parent, config.videos) for f in frames}
    labelled: dict[str, set[int]] = {}
    for f in frames:
        labelled.setdefault(f.clip, set()).add(f.frame)
    pool = unlabelled_frames({name: path for name, path in clips.items() if path is not None}, labelled,
                             config.distill_frames)
    if not pool:
        return None
    batch = max(2, config.batch_size // 2)
    sampler = torch.utils.data.RandomSampler(range(len(pool)), replacement=True, num_samples=10**9, generator=generator)
    loader = torch.utils.data.DataLoader(RealFrameDataset(pool, size), batch_size=batch, sampler=sampler, num_workers=1)
    return (images for images, _ in loader)


def best_metrics(judgement: Judgement) -> dict:
    return {"step": judgement.step, "placement": judgement.placement, **judgement.score.to_dict()}


