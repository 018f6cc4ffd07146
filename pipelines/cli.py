"""The `pettrack` command: the table of commands and their options.

Each command checks its options here (typer: a bad value is a usage error) and hands them to its
module in pipelines/commands/, imported when it runs; the work is the library's.

Exit codes (pipelines/entry.py): 0 the job was done (some inputs may have been skipped, and are listed);
1 the job failed (nothing usable came out); 2 bad usage; 130 interrupted (outputs so far kept).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

# Only light modules here: --help and usage errors answer before torch, OpenVINO, OpenCV, SciPy,
# matplotlib or Ray load (tests/test_startup.py keeps it so). Each command imports its work when
# it runs.
from pettrack.model.settings import BACKENDS, MAX_PETS, PRECISION_NAMES, LocalizerSettings

app = typer.Typer(
    name="pettrack",
    help="Find a pet's nose in every image of a folder and every frame of a video.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

WeightsOption = typer.Option(None, "--weights", "-w", help="Weights file (.safetensors), or a shipped model: default (256 px, for footage), portrait (256 px, photos only) or fast (128 px, about twice the frames/s on a CPU, less precise).")


def _device_name(value: str) -> str:
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
        raise typer.BadParameter(f"{value!r}: use auto, cpu, cuda or cuda:N")
    return value


def one_of(*choices: str):
    """An option callback: the value must be one of `choices` (else a usage error, exit 2)."""
    def check(value: str | None) -> str | None:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r}: use {', '.join(choices[:-1])} or {choices[-1]}")
        return value
    return check


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise typer.BadParameter(f"{value:g}: {name} must be above 0")
    return value


def _multiple_of_32(value: int) -> int:
    if value % 32:
        raise typer.BadParameter(f"{value} is not a multiple of 32")
    return value


DeviceOption = typer.Option("auto", "--device", callback=_device_name, help="auto (CUDA when present), cpu, cuda or cuda:N.")


BackendOption = typer.Option(
    "auto", "--backend", callback=one_of(*BACKENDS),
    help='Where the network runs: auto (OpenVINO on a CPU when installed, else PyTorch), torch or openvino '
         '(pip install "pettrack\\[openvino]").',  # \\[: a literal [ in rich markup
)


PrecisionOption = typer.Option(
    "auto", "--precision", callback=one_of(*PRECISION_NAMES),
    help="auto (bf16 on CUDA and on CPUs with native bf16, else fp32), fp32, bf16, fp16, or int8: the weights' "
         "quantized OpenVINO model (CPU; the shipped default has one; see docs/benchmarks.md for its accuracy).",
)


MinConfidenceOption = typer.Option(
    None, "--min-confidence", min=0.0, max=1.0,
    help="Heat-map peaks below this are 'no nose' (default: the model's presence threshold, stored in its weights).",
)
MaxPetsOption = typer.Option(
    MAX_PETS, "--max-pets", min=1, max=256,
    help="Most noses per image or frame, and most tracks at once (1: follow the single most confident nose).",
)


ExportOption = typer.Option(
    None, "--export", help='Also write the tracks for other tools, comma-separated: slp (SLEAP), nwb (NWB + ndx-pose), '
    'dlc (DeepLabCut-style CSV); needs pip install "pettrack\\[export]".',
)


EngineOption = typer.Option(
    "local", "--engine", callback=one_of("local", "ray"),
    help="local: this machine's worker pool; ray: a Ray cluster or a local Ray (pip install \"pettrack\\[ray]\"; see docs/scale.md).",
)
AddressOption = typer.Option(
    None, "--address", help="With --engine ray: join a running cluster (auto, or ray://HOST:PORT); default: start Ray here.",
)
ActorsOption = typer.Option(
    None, "--actors", min=1, help="With --engine ray: model workers (default: one per GPU of the cluster, else one per CPU).",
)
TrackerOption = typer.Option(
    None, "--tracker", help="Tracker settings, a TOML file of name = value lines (see docs/tracker.md); unset ones keep their defaults.",
)


@app.command()
def folder(
    directory: Path = typer.Argument(..., help="Folder of images (JPEG, PNG, WebP, BMP, TIFF)."),
    csv: bool = typer.Option(False, "--csv", help="Write CSV (file,nose,x,y,confidence,width,height: a row per nose) to stdout instead of a table."),
    out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the CSV to this file (atomically)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Include subfolders."),
    annotate: Optional[Path] = typer.Option(None, "--annotate", help="Write a copy of each image with the nose marked into this folder."),
    heatmap: bool = typer.Option(False, "--heatmap", help="With --annotate: overlay the heat-map too."),
    weights: Optional[Path] = WeightsOption,
    min_confidence: Optional[float] = MinConfidenceOption,
    max_pets: int = MaxPetsOption,
    device: str = DeviceOption,
    backend: str = BackendOption,
    precision: str = PrecisionOption,
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Images per forward pass (default: 16 on CPU, 64 on CUDA)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Decoding threads (default: 1 on CPU, up to 8 with CUDA)."),
    engine: str = EngineOption,
    address: Optional[str] = AddressOption,
    actors: Optional[int] = ActorsOption,
    chunk: int = typer.Option(64, "--chunk", min=1, help="With --engine ray: images per task."),
) -> None:
    """Locate the nose in every image of a folder: a table, or CSV with [bold]--csv[/]."""
    from .commands.folder import run

    run(
        settings=LocalizerSettings(weights, device, precision, min_confidence, backend, max_pets),
        directory=directory, csv=csv, out_file=out_file, recursive=recursive, annotate=annotate,
        heatmap=heatmap, batch_size=batch_size, workers=workers, engine=engine, address=address, actors=actors,
        chunk=chunk,
    )


@app.command()
def video(
    inputs: Optional[list[Path]] = typer.Argument(None, help="One or more video files (or --manifest)."),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Write outputs here instead of beside each input."),
    no_video: bool = typer.Option(False, "--no-video", help="CSV only, no annotated video."),
    csv_file: Optional[Path] = typer.Option(None, "--csv", help="CSV path (one input only)."),
    video_file: Optional[Path] = typer.Option(None, "--video", help="Annotated video path (one input only)."),
    weights: Optional[Path] = WeightsOption,
    min_confidence: Optional[float] = MinConfidenceOption,
    max_pets: int = MaxPetsOption,
    device: str = DeviceOption,
    backend: str = BackendOption,
    precision: str = PrecisionOption,
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Frames per forward pass (default: 16 on CPU, 64 on CUDA)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Decoding threads (default: 1 on CPU, up to 8 with CUDA)."),
    raw: bool = typer.Option(False, "--raw", help="Also draw the unsmoothed detections."),
    heatmap: bool = typer.Option(False, "--heatmap", help="Overlay the heat-maps on the video."),
    start: Optional[float] = typer.Option(None, "--start", min=0, help="Start at this time (seconds)."),
    end: Optional[float] = typer.Option(None, "--end", min=0, help="Stop at this time (seconds)."),
    causal: bool = typer.Option(False, "--causal", help="Forward filter only, no look-ahead (as live mode)."),
    decoder: str = typer.Option("auto", "--decoder", callback=one_of("auto", "decord", "opencv"),
                                help="auto, decord or opencv: what decodes a video in chunks on several threads; "
                                     "one thread reads it in one pass with PyAV, or with OpenCV when asked."),
    tracker: Optional[Path] = TrackerOption,
    engine: str = EngineOption,
    address: Optional[str] = AddressOption,
    actors: Optional[int] = ActorsOption,
    input_list: Optional[Path] = typer.Option(
        None, "--manifest", help="A text file listing input videos, one per line ('#' comments; relative to the file)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="With --engine ray: redo inputs the job record says are complete."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw NAME.pettrack.png: the trajectory, x, y and confidence over time, the states and cuts."),
    export: Optional[str] = ExportOption,
    report: bool = typer.Option(False, "--report", help="Write pettrack-report.html (every run in the output folder) at the end."),
) -> None:
    """Track the nose through videos: [bold]NAME.pettrack.csv[/], an annotated [bold]NAME.pettrack.mp4[/] and a plot."""
    from .commands.video import run

    run(
        settings=LocalizerSettings(weights, device, precision, min_confidence, backend, max_pets),
        inputs=inputs, out_dir=out_dir, no_video=no_video, csv_file=csv_file, video_file=video_file,
        batch_size=batch_size, workers=workers, raw=raw, heatmap=heatmap, start=start, end=end, causal=causal,
        decoder=decoder, tracker=tracker, engine=engine, address=address, actors=actors, input_list=input_list,
        overwrite=overwrite, plots=plots, export=export, report=report,
    )


@app.command()
def camera(
    source: str = typer.Argument("0", help="Webcam index, stream URL (rtsp://, http://...) or a video file played in real time."),
    show: bool = typer.Option(False, "--show", help="Show the annotated stream in a window (q or Esc to stop)."),
    csv_file: Optional[Path] = typer.Option(None, "--csv", help="Append rows here as they happen (flushed per row)."),
    video_file: Optional[Path] = typer.Option(None, "--video", help="Record the annotated stream (MP4)."),
    duration: Optional[float] = typer.Option(None, "--duration", min=0, help="Stop after this many seconds."),
    frames: Optional[int] = typer.Option(None, "--frames", min=1, help="Stop after processing this many frames."),
    reconnect_limit: float = typer.Option(60.0, "--reconnect-limit", help="Give up on a dropped stream after this many seconds."),
    weights: Optional[Path] = WeightsOption,
    min_confidence: Optional[float] = MinConfidenceOption,
    max_pets: int = MaxPetsOption,
    tracker: Optional[Path] = TrackerOption,
    device: str = DeviceOption,
    backend: str = BackendOption,
    precision: str = PrecisionOption,
) -> None:
    """Live mode: track the nose on a camera or stream as it happens (Ctrl-C to stop)."""
    from .commands.camera import run

    run(
        settings=LocalizerSettings(weights, device, precision, min_confidence, backend, max_pets),
        source=source, show=show, csv_file=csv_file, video_file=video_file, duration=duration, frames=frames,
        reconnect_limit=reconnect_limit, tracker=tracker,
    )


@app.command()
def label(
    videos: list[Path] = typer.Argument(..., help="The clips to label frames of."),
    labels: Path = typer.Option(Path("labels.csv"), "--labels", "-l", help="The labels file answers are saved to (footage format; created when missing, continued when it exists)."),
    frames: int = typer.Option(40, "--frames", min=1, max=2000, help="Frames to propose, shared between the clips."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free one)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Only print the page's address."),
    weights: Optional[Path] = WeightsOption,
    device: str = DeviceOption,
    backend: str = BackendOption,
) -> None:
    """Label noses on frames of your own clips in a local page; every answer is saved at once.

    The page proposes frames where the model is unsure, plus evenly spaced ones. Stop with the page's Done button or Ctrl-C here: nothing is lost, and running it again goes on where you stopped (once every proposed frame is answered, it proposes new ones with --weights). Then: pettrack finetune --labels labels.csv --out mypet.safetensors
    """
    from .commands.label import run

    run(
        videos=videos, labels=labels, frames=frames, port=port, no_browser=no_browser, weights=weights,
        device=device, backend=backend,
    )


@app.command()
def finetune(
    labels: Path = typer.Option(..., "--labels", "-l", help="Your labelled frames (pettrack label writes them; footage format)."),
    out_file: Path = typer.Option(..., "--out", "-o", help="Where to write the fine-tuned weights (.safetensors)."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="The model to start from (default: the shipped default)."),
    videos: Optional[Path] = typer.Option(None, "--videos", help="Folder of the clips the labels name, when they are not beside the labels file."),
    steps: int = typer.Option(240, "--steps", min=1, max=100000, help="Training steps (a batch of 16 views each; about 1 s a step on a 2-core CPU)."),
    lr: float = typer.Option(1e-4, "--lr", max=1.0, callback=lambda value: _positive("--lr", value), help="Peak learning rate."),
    anchor: float = typer.Option(0.0, "--anchor", min=0.0, max=100.0, help="Pull towards the starting weights (0: none), to keep more of what it knew on other footage at a cost on yours (docs/finetune.md)."),
    distill: float = typer.Option(0.0, "--distill", min=0.0, max=100.0, help="Also learn the starting model's heat-maps on unlabelled frames of your clips, with this weight (0: off)."),
    held_out_every: int = typer.Option(4, "--held-out-every", min=2, max=100, help="In each clip, every Nth labelled frame (in time) is held out to judge the result."),
    force: bool = typer.Option(False, "--force", help="Write the result even when it is worse than the starting model on the held-out frames."),
    seed: int = typer.Option(0, min=0),
    device: str = DeviceOption,
    precision: str = typer.Option("auto", callback=one_of("auto", "fp32", "bf16"), help="auto, fp32 or bf16."),
) -> None:
    """Teach the model your own pet: fine-tune it on frames you labelled with pettrack label.

    Prints the starting model and the fine-tune on held-out frames, and writes OUT only when it is at least as good there (or with --force). Ctrl-C stops and keeps the best step so far. Use the result with --weights OUT on every command.
    """
    from .commands.finetune import run

    run(
        labels=labels, out_file=out_file, weights=weights, videos=videos, steps=steps, lr=lr, anchor=anchor,
        distill=distill, held_out_every=held_out_every, force=force, seed=seed, device=device,
        precision=precision,
    )


@app.command()
def export(
    fmt: str = typer.Option(..., "--format", "-f", callback=one_of("onnx", "torchscript", "openvino"),
                            help="onnx, torchscript or openvino (NAME.xml, with NAME.bin beside it)."),
    out_file: Path = typer.Option(..., "--out", "-o", help="File to write."),
    weights: Optional[Path] = WeightsOption,
    int8: bool = typer.Option(
        False, "--int8", help="With --format openvino: quantize to int8 (NNCF), calibrated on 300 views of --labels: "
        "labelled photos in --images (the training side of train's split), or your labelled video frames (the "
        "file pettrack label writes). Save it as WEIGHTS-NAME.int8.xml beside the weights for --precision int8."),
    images: Optional[Path] = typer.Option(None, "--images", help="With --int8 and a photo label file: the folder of the photos."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="With --int8: a label file of photos (pet-noses format) or of video frames (footage format)."),
    videos: Optional[Path] = typer.Option(None, "--videos", help="With --int8 and video frames: the folder of their clips, when not beside the labels."),
) -> None:
    """Export the model. onnx/torchscript: letterboxed, normalised NCHW float in; openvino: letterboxed uint8 NHWC RGB
    in (normalisation inside). Out: the heat-map."""
    from .commands.export import run

    run(
        fmt=fmt, out_file=out_file, weights=weights, int8=int8, images=images, labels=labels, videos=videos,
    )


@app.command()
def convert(
    tracks: list[Path] = typer.Argument(..., help="Track files from pettrack video: NAME.pettrack.csv."),
    to: str = typer.Option(..., "--to", help="slp, nwb, dlc, or several: slp,nwb,dlc."),
    plot: bool = typer.Option(False, "--plot", help="Also draw NAME.pettrack.png."),
) -> None:
    """Write existing runs' tracks for SLEAP, NWB or DeepLabCut (beside each CSV), without running the model."""
    from .commands.convert import run

    run(
        tracks=tracks, to=to, plot=plot,
    )


@app.command(name="report")
def report_command(
    directory: Path = typer.Argument(..., help="A folder with pettrack video results (searched with its subfolders)."),
) -> None:
    """A page for a batch: DIR/pettrack-report.html, a row per video (thumbnail, share tracked, confidence, tracks, timeline, links)."""
    from .commands.report import run

    run(
        directory=directory,
    )


@app.command(name="train")
def train_command(
    images: Path = typer.Option(..., "--images", help="Folder with the labelled images."),
    labels: Path = typer.Option(..., "--labels", help='Label file, one line per image: name.jpg,"(x, y)".'),
    out_file: Path = typer.Option(..., "--out", "-o", help="Where to write the best weights (.safetensors)."),
    epochs: int = typer.Option(150, min=1),
    batch_size: int = typer.Option(32, "--batch-size", min=2),
    lr: float = typer.Option(1e-3, max=1.0, callback=lambda value: _positive("--lr", value), help="Peak learning rate (one-cycle schedule, AdamW)."),
    weight_decay: float = typer.Option(1e-4, "--weight-decay", min=0.0, max=1.0),
    sigma: float = typer.Option(7.0, min=0.5, max=64.0, help="Heat-map Gaussian sigma in model pixels."),
    input_size: int = typer.Option(256, "--input-size", min=32, max=1024, callback=_multiple_of_32,
                                   help="Model input side, a multiple of 32."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", min=0.01, max=0.9, help="Deterministic validation split."),
    seed: int = typer.Option(0, min=0, help="Seed for initial weights, shuffling and augmentation."),
    patience: int = typer.Option(25, min=1, help="Stop after this many epochs without a better validation error."),
    ema_decay: float = typer.Option(0.999, "--ema-decay", min=0.0, max=0.99999),
    fg_weight: float = typer.Option(0.0, "--fg-weight", min=0.0, max=1000.0, help="Extra loss weight near the nose (0: plain MSE)."),
    no_augment: bool = typer.Option(False, "--no-augment", help="Train on the plain images."),
    footage: bool = typer.Option(
        False, "--footage", help="Train for real footage too: small pets on video-aspect canvases, several pets, "
        "views with no nose, blur/compression/noise/low light/text; keeps the weights with the best footage score "
        "and stores the presence threshold chosen on validation footage.",
    ),
    device: str = DeviceOption,
    precision: str = typer.Option("auto", callback=one_of("auto", "fp32", "bf16", "fp16"),
                                  help="auto (bf16 on CUDA and on CPUs with native bf16, else fp32), fp32, bf16 or fp16."),
    workers: int = typer.Option(-1, min=-1, max=64, help="Data-loading processes (-1: 8 on CUDA, 1 on CPU)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT's checkpoint (OUT.checkpoint.pt)."),
    init_weights: Optional[Path] = typer.Option(
        None, "--init-weights", help="Start from these weights (fine-tune), e.g. a model trained at a smaller --input-size."
    ),
    footage_labels: list[Path] = typer.Option(
        [], "--footage-labels", help="Hand-labelled video frames (file,clip,frame,width,height,visible,noses; repeatable): "
        "split by clip, mixed into training, and, when clips are held out, the judge of each epoch and of the presence threshold.",
    ),
    videos: Optional[Path] = typer.Option(None, "--videos", help="Folder of the clips a --footage-labels file names, when they are not beside it."),
    real_share: float = typer.Option(0.4, "--real-share", min=0.0, max=1.0, help="Share of training views drawn from the real frames."),
    real_val_fraction: float = typer.Option(0.2, "--real-val-fraction", min=0.0, max=0.9, help="Share of the real frames' clips held out for validation."),
    real_train_clips: int = typer.Option(0, "--real-train-clips", min=0, help="Train on this many of the real frames' "
                                         "training clips only (0: all; a fixed choice, for learning curves). Validation is unchanged."),
    epoch_size: int = typer.Option(0, "--epoch-size", min=0, help="Training views per epoch (0: one per training image)."),
    portraits_kept: float = typer.Option(0.995, "--portraits-kept", min=0.0, max=1.0, help="With held-out real frames: "
                                         "the presence threshold keeps a point on at least this share of the validation portraits."),
) -> None:
    """Train the nose localizer; writes weights, a checkpoint, a loss plot and heat-map pictures."""
    from .commands.train import run

    run(
        images=images, labels=labels, out_file=out_file, epochs=epochs, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, sigma=sigma, input_size=input_size, val_fraction=val_fraction, seed=seed,
        patience=patience, ema_decay=ema_decay, fg_weight=fg_weight, no_augment=no_augment, footage=footage,
        device=device, precision=precision, workers=workers, resume=resume, init_weights=init_weights,
        footage_labels=footage_labels, videos=videos, real_share=real_share,
        real_val_fraction=real_val_fraction, real_train_clips=real_train_clips, epoch_size=epoch_size,
        portraits_kept=portraits_kept,
    )


@app.command(name="eval")
def eval_command(
    images: Path = typer.Option(..., "--images", help="Folder with the labelled images."),
    labels: Path = typer.Option(..., "--labels", help="Label file in the pet-noses format."),
    weights: Optional[Path] = WeightsOption,
    min_confidence: Optional[float] = MinConfidenceOption,
    split: str = typer.Option("all", "--split", callback=one_of("all", "val", "train"), help="all images, or only the 'val' or 'train' side of train's deterministic split."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", min=0.0, max=0.99, help="With --split: the split's validation share (as in train)."),
    footage: bool = typer.Option(True, "--footage/--no-footage", help="Also score the footage set: every image small and large on video-aspect canvases, degraded, and as many views with no nose."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write predictions.csv, worst.png and (with footage) presence.png here."),
    device: str = DeviceOption,
    backend: str = BackendOption,
    precision: str = PrecisionOption,
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    worst: int = typer.Option(12, min=1, max=200, help="How many of the worst predictions the gallery shows."),
) -> None:
    """Measure accuracy on labelled images: distance statistics and PCK on the photos, and hit rate
    and nose-free rejection on the footage set built from them."""
    from .commands.eval import run

    run(
        images=images, labels=labels, weights=weights, min_confidence=min_confidence, split=split,
        val_fraction=val_fraction, footage=footage, report=report, device=device, backend=backend,
        precision=precision, batch_size=batch_size, worst=worst,
    )

