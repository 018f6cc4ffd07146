"""The performance table: decode, model, end to end, several videos, memory.

    python benchmarks/performance.py [--video ../shared/videos/dog.mp4] [--quick] [--write docs/benchmarks.md]

Decode only: frames/s of the pipeline's decode stage (decode + letterbox, as `pettrack video`
does it) with 1..16 workers, for the default decoders (one worker: PyAV in one pass; more: decord
on keyframe-aligned chunks) and for OpenCV, on the input and on a 1080p clip made here.
Model only: images/s of NoseNet (BatchNorm folded, as the Localizer runs it), and of the
exported ONNX model under ONNX Runtime when it is installed, for batch sizes x precisions x eager/torch.compile x
channels_last on/off, on the CPU and on CUDA when present (the default model's input size).
End to end: `pettrack video` with its defaults, as a fraction of the decode-only rate with the
same workers, the naive loop (video_throughput.py), and three videos in one command.
Memory: peak RSS of each end-to-end process (and peak CUDA memory where present).
--quick trims the grid for a 2-core machine (no batch 256, fp16 or torch.compile on the CPU).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Callable

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from video_throughput import NAIVE, machine, parse_naive, parse_pettrack, publish, run_measured  # noqa: E402

from pettrack.model.export import export_model  # noqa: E402
from pettrack.model.geometry import Letterbox  # noqa: E402
from pettrack.model.architecture import NetConfig  # noqa: E402
from pettrack.model.net import NoseNet, fold_batchnorm, normalize  # noqa: E402
from pettrack.model.weights import default_weights_path, read_info  # noqa: E402
from pettrack.pipelines.runner import device_defaults  # noqa: E402
from pettrack.pipelines.video_io import VideoWriter, parallel_frames, probe  # noqa: E402


def make_1080p(source: Path, target: Path, frames: int = 150) -> Path:
    """The first `frames` frames of `source`, scaled to 1920x1080, written by pettrack's writer."""
    import av

    with av.open(str(source)) as src, VideoWriter(target, 1920, 1080, Fraction(30000, 1001)) as writer:
        for index, frame in enumerate(src.decode(video=0)):
            if index >= frames:
                break
            writer.write(frame.reformat(width=1920, height=1080, format="rgb24").to_ndarray())
    return target


def decode_rate(path: Path, backend: str, workers: int, size: int) -> float:
    info = probe(path)
    box = Letterbox.fit(info.width, info.height, size)
    started, count = time.perf_counter(), 0
    for _ in parallel_frames(info, 0, info.frame_count, workers, lambda f: box.apply(f.rgb), backend):
        count += 1
    return count / (time.perf_counter() - started)


def images_per_second(run: Callable[[], object], batch: int, seconds: float) -> float:
    """Two warm-up calls (compilation happens there), then calls for at least `seconds`."""
    run()
    run()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or count < 2:
        run()
        count += 1
    return count * batch / (time.perf_counter() - started)


def model_rate(device: str, batch: int, precision: str, compiled: bool, channels_last: bool, size: int,
               seconds: float) -> float:
    model = fold_batchnorm(NoseNet(NetConfig(size)).eval()).to(device)  # as the Localizer runs it
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    if compiled:
        # Every NoseNet shares one forward(): without a reset, dynamo's per-function cache fills
        # up across configurations and silently falls back to eager (recompile_limit).
        torch._dynamo.reset()
        model = torch.compile(model)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    x = normalize(torch.randint(0, 255, (batch, size, size, 3), dtype=torch.uint8, device=device))
    x = x.contiguous(memory_format=memory_format)

    def run() -> None:
        with torch.inference_mode(), torch.autocast(torch.device(device).type, dtype=dtype or torch.float32,
                                                    enabled=dtype is not None):
            model(x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    return images_per_second(run, batch, seconds)


def onnxruntime_rate(batch: int, size: int, onnx_file: Path, seconds: float) -> float | None:
    """images/s of the exported model under ONNX Runtime (CPU, fp32); None without onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name:
            normalize(torch.randint(0, 255, (batch, size, size, 3), dtype=torch.uint8)).contiguous().numpy()}
    return images_per_second(lambda: session.run(None, feed), batch, seconds)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=REPO.parent / "shared" / "videos" / "dog.mp4")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    size = read_info(default_weights_path()).net.input_size
    cuda = torch.cuda.is_available()
    sections = [f"Machine: {machine()}. Default model input: {size}x{size}."]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip_1080 = make_1080p(args.video, tmp / "clip1080.mp4")
        worker_counts = (1, 2, 4) if args.quick else (1, 2, 4, 8, 16)
        rows, decode_at = [], {}
        for path, label in ((args.video, f"{args.video.name} (720p)"), (clip_1080, "1080p clip")):
            for backend, name in (("auto", "default (1 worker: PyAV in one pass; more: decord chunks)"),
                                  ("opencv", "opencv")):
                rates = [decode_rate(path, backend, w, size) for w in worker_counts]
                rows.append([label, name, *(f"{r:.0f}" for r in rates)])
                if path == args.video and backend == "auto":
                    decode_at = dict(zip(worker_counts, rates))
        sections.append("### Decode only (decode + letterbox), frames/s\n\n"
                        + table(["input", "decoder", *(f"{w} workers" for w in worker_counts)], rows))

        rows = []
        devices = ["cpu"] + (["cuda"] if cuda else [])
        for device in devices:
            batches = (1, 8, 32) if (args.quick and device == "cpu") else (1, 8, 32, 256)
            # fp16 on a CPU without native fp16 (AVX512-FP16, AMX-FP16) is emulated and slow.
            precisions = ("fp32", "bf16") if (args.quick and device == "cpu") else ("fp32", "bf16", "fp16")
            compile_modes = (False,) if (args.quick and device == "cpu") else (False, True)
            for precision in precisions:
                for compiled in compile_modes:
                    for channels_last in (True, False):
                        rates = [model_rate(device, b, precision, compiled, channels_last, size,
                                            seconds=3.0 if device == "cpu" else 2.0) for b in batches]
                        rows.append([device, precision, "compile" if compiled else "eager",
                                     "on" if channels_last else "off", *(f"{r:.0f}" for r in rates)])
            if device == "cpu":
                onnx_file = export_model(default_weights_path(), "onnx", tmp / "model.onnx")
                rates = [onnxruntime_rate(b, size, onnx_file, seconds=3.0) for b in batches]
                if None not in rates:
                    rows.append(["cpu", "fp32", "onnxruntime", "-", *(f"{r:.0f}" for r in rates)])
            sections.append(f"### Model only, {device}, images/s\n\n"
                            + table(["device", "precision", "mode", "channels_last", *(f"batch {b}" for b in batches)],
                                    [r for r in rows if r[0] == device]))

        _, workers = device_defaults("cuda" if cuda else "cpu")  # what `pettrack video` picks here
        if workers not in decode_at:
            decode_at[workers] = decode_rate(args.video, "auto", workers, size)
        wall, rss, err = run_measured(["pettrack", "video", str(args.video), "--out-dir", str(tmp / "out")])
        frames, seconds = parse_pettrack(err)
        e2e = frames / seconds
        wall_n, rss_n, err_n = run_measured([sys.executable, "-c", NAIVE, str(args.video), str(tmp / "naive.mp4"), "", "mp4v"])
        naive_frames, naive_seconds = parse_naive(err_n)
        copies = [Path(tmp) / f"copy{i}{args.video.suffix}" for i in range(3)]
        for copy in copies:
            copy.write_bytes(args.video.read_bytes())
        wall_3, rss_3, _ = run_measured(["pettrack", "video", *map(str, copies), "--out-dir", str(tmp / "out3")])
        gpu_peak = next((line.split(":")[1].strip() for line in err.splitlines() if "peak GPU memory" in line), "")
        rows = [
            [f"pettrack video (defaults: {workers} workers)", f"{e2e:.1f}",
             f"{e2e / decode_at[workers]:.0%} of decode-only with {workers} workers", rss, gpu_peak],
            ["naive loop (OpenCV read, batch 1, OpenCV write)", f"{naive_frames / naive_seconds:.1f}", f"pettrack is {e2e / (naive_frames / naive_seconds):.2f}x", rss_n, ""],
            ["pettrack video a.mp4 b.mp4 c.mp4", f"{3 * frames / wall_3:.1f} (wall, with start-up)", "", rss_3, ""],
        ]
        sections.append("### End to end\n\n" + table(["run", "frames/s", "comparison", "peak RSS MiB", "peak GPU memory"], rows))

    publish("\n\n".join(sections), "Performance table", args.write)


if __name__ == "__main__":
    main()
