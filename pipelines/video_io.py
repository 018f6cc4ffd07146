"""Video in and out.

In: `probe` reads a file's facts with PyAV (exact rational frame rate, rotation tag, size, the
frames an edit list hides); `parallel_frames` hands frames on in order: read in one pass by PyAV
in a thread a bounded number of frames ahead, or spread over worker threads, one keyframe-aligned
chunk each, decoded by `FrameReader`s (decord, or OpenCV for what decord cannot open and for
rotated phone video, which OpenCV turns upright), with a bounded number of chunks in flight.

Out: `VideoWriter` encodes H.264 (libx264, yuv420p, faststart: plays in browsers) into MP4 with
the source's exact frame rate, to a temp file renamed into place on close, so an interrupted run
still leaves a playable file.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Protocol, TypeVar

import av
import cv2
import numpy as np

from pettrack.model.files import commit, partial_path

from .parallel import ordered_map, read_ahead

T = TypeVar("T")

if not os.environ.get("PETTRACK_DEBUG"):
    # libav's messages about damaged packets are said once, in our words, as a DecodeError.
    av.logging.set_level(None)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read when OpenCV first opens a video

# Chunks for parallel decoding start on keyframes and hold at least this many frames (fewer,
# longer chunks waste no decoding; each costs one seek) and at most MAX (bounds memory).
MIN_CHUNK, MAX_CHUNK = 48, 300
# A chunk is handed on only once it is decoded whole, so the first frame of a video would wait for
# up to MAX_CHUNK decodes (0.5 s on dog.mp4 here): a reader that seeks frame-accurately starts with
# a chunk this short instead, and the next chunk begins inside that group of pictures.
FIRST_CHUNK = 16
# A source read in one pass (one decoder) runs this many frames ahead of the model, in a thread.
READ_AHEAD = 32


class VideoError(Exception):
    """A video that cannot be read; the message names the file (and frame)."""


class DecodeError(VideoError):
    def __init__(self, path: Path, frame: int, reason: str):
        super().__init__(f"{path}: decoding failed at frame {frame}: {reason}")
        self.frame = frame
        self.reason = reason


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int  # display size (after rotation)
    height: int
    frame_count: int  # as the container says; 0 when it does not (MKV, WebM, raw H.264): decoded to the end
    rate: Fraction  # frames per second, exactly (30000/1001 for 29.97)
    rotation: int  # degrees counter-clockwise from the rotation tag
    codec: str
    estimated_frames: int = 0  # without a count: from the container's duration (progress only), 0 if none
    # Frames stored before the first one the video shows: a trimmed MP4/MOV keeps them, and its edit
    # list starts the video after them. Not in frame_count, never shown, never given an index.
    lead_in: int = 0

    @property
    def fps(self) -> float:
        return float(self.rate)


@dataclass(frozen=True)
class Frame:
    index: int
    time_s: float
    rgb: np.ndarray  # HxWx3 uint8, display orientation


def probe(path: Path) -> VideoInfo:
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, not a video")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
                raise VideoError(f"{path}: no video stream (contains {kinds})")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            try:
                first, trimmed = _first_frame(container, stream)
            except av.FFmpegError:
                first = None
            if first is None:
                raise VideoError(f"{path}: has a video stream but no decodable frame")
            rotation = int(getattr(first, "rotation", 0) or 0) % 360
            width, height = first.width, first.height
            # The container's frame count is trusted where it is written down (MP4, MOV); a count
            # worked out from a duration is a hint for the progress bar only, and such clips are
            # decoded to their end (MKV, WebM and raw H.264 carry no count).
            count = stream.frames
            estimate = 0
            if not count and rate:
                if stream.duration and stream.time_base:
                    estimate = int(round(float(stream.duration * stream.time_base) * float(rate)))
                elif container.duration:
                    estimate = int(round(container.duration / av.time_base * float(rate)))
            codec = stream.codec_context.name
        lead_in, shown = _edit_list_trim(path) if trimmed else (0, 0)
        if lead_in and count:
            count = shown  # the container counts the hidden frames too
    except av.FFmpegError as exc:
        raise VideoError(f"{path}: not a readable video ({exc.strerror or exc})") from exc
    if not rate:
        raise VideoError(f"{path}: the container gives no frame rate")
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(path, width, height, int(count or 0), Fraction(rate), rotation, codec, estimate, lead_in)


def _first_frame(container: "av.container.InputContainer", stream: "av.VideoStream") -> tuple["av.VideoFrame | None", bool]:
    """The first frame the video shows, and whether an edit list hides the first stored one (the
    file is a trimmed clip: libavformat marks the hidden frames' packets 'discard')."""
    hidden = None
    for packet in container.demux(stream):
        if hidden is None and packet.size:
            hidden = packet.is_discard
        for frame in packet.decode():
            return frame, bool(hidden)
    return None, bool(hidden)


def _edit_list_trim(path: Path) -> tuple[int, int]:
    """(frames stored before the first shown one, frames shown) of a trimmed MP4/MOV, from its
    packets (no decoding)."""
    with av.open(str(path)) as container:
        stored = [(p.pts, p.is_discard) for p in container.demux(container.streams.video[0])
                  if p.size and p.pts is not None]
    shown = [pts for pts, discard in stored if not discard]
    if not shown:
        return 0, 0
    start = min(shown)
    return sum(1 for pts, discard in stored if discard and pts < start), len(shown)


class FrameReader(Protocol):
    def frames(self, start: int, stop: int | None) -> Iterator[Frame]: ...
    def keyframes(self) -> list[int]: ...


class DecordReader:
    """Fast frame-accurate decoding of ordinary files."""

    def __init__(self, path: Path):
        import decord

        if not os.environ.get("PETTRACK_DEBUG"):
            decord.logging.set_level(decord.logging.QUIET)
        self.path = Path(path)
        self._decord = decord
        try:
            self._reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        except (decord.DECORDError, RuntimeError) as exc:
            raise VideoError(f"{path}: decord cannot open it ({str(exc).splitlines()[0]})") from exc

    def __len__(self) -> int:
        return len(self._reader)

    def keyframes(self) -> list[int]:
        return [int(k) for k in self._reader.get_key_indices()]

    def first_frame_shape(self) -> tuple[int, ...]:
        try:
            shape = tuple(self._reader[0].shape)
        except (self._decord.DECORDError, RuntimeError, IndexError) as exc:
            raise VideoError(f"{self.path}: decord cannot decode frame 0") from exc
        self._reader.seek(0)
        return shape

    def frames(self, start: int, stop: int | None) -> Iterator[Frame]:
        stop = len(self._reader) if stop is None else min(stop, len(self._reader))
        if start >= stop:
            return
        index = start
        try:
            times = self._reader.get_frame_timestamp(list(range(start, stop)))[:, 0]
            self._reader.seek_accurate(start)
            for index in range(start, stop):
                rgb = self._reader.next().asnumpy()
                yield Frame(index, float(times[index - start]), rgb)
        except StopIteration:
            raise DecodeError(self.path, index, "the stream ended early (truncated file?)") from None
        except (self._decord.DECORDError, RuntimeError) as exc:
            raise DecodeError(self.path, index, str(exc).splitlines()[0]) from exc


class OpenCVReader:
    """Fallback decoder; also applies rotation tags."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._capture = cv2.VideoCapture(str(path))
        if not self._capture.isOpened():
            raise VideoError(f"{path}: OpenCV cannot open it")

    def keyframes(self) -> list[int]:
        return []  # unknown: chunks are fixed-size

    def frames(self, start: int, stop: int | None) -> Iterator[Frame]:
        capture = self._capture
        if start:
            capture.set(cv2.CAP_PROP_POS_FRAMES, start)
        index = start
        while stop is None or index < stop:
            ok, bgr = capture.read()
            if not ok:
                # OpenCV cannot tell a broken stream from its end: compare with what was asked for.
                if stop is not None:
                    raise DecodeError(self.path, index, f"the stream ended early, {stop - index} frames short "
                                                        "of what the container lists (truncated file?)")
                return
            yield Frame(index, capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1


def open_reader(info: VideoInfo, backend: str = "auto") -> FrameReader:
    """decord unless the file is rotated or decord cannot read it (or OpenCV is asked for)."""
    if backend not in ("auto", "decord", "opencv"):
        raise ValueError(f"unknown decoder {backend!r} (auto, decord or opencv)")
    if backend == "opencv" or (backend == "auto" and info.rotation):
        return OpenCVReader(info.path)
    try:
        reader = DecordReader(info.path)
        # decord returns garbled arrays for some files (tiny frames, rotation tags): check one.
        shape = reader.first_frame_shape()
        if shape != (info.height, info.width, 3):
            raise VideoError(f"{info.path}: decord decodes {shape}, expected {(info.height, info.width, 3)}")
        return reader
    except VideoError:
        if backend == "decord":
            raise
        return OpenCVReader(info.path)


def clean_keyframes(path: Path) -> list[int]:
    """Presentation indices of the keyframes a decoder can start at and return exactly the frames
    from there on, found by reading packets (no decoding).

    A keyframe is clean when no frame after it in decode order is shown before it. Open-GOP
    streams (HEVC from phone cameras, x265 with open-gop) follow many keyframes with such
    "leading" frames, which reference the previous group: a decoder started at that keyframe
    cannot produce them and returns other frames in their place. Frame 0 is always clean.
    Packets without timestamps make every other keyframe unclean (nothing can be proved).
    """
    try:
        with av.open(str(path)) as container:
            packets = [(p.pts, p.is_keyframe) for p in container.demux(container.streams.video[0]) if p.size]
    except av.FFmpegError:
        return [0]
    if not packets or any(pts is None for pts, _ in packets):
        return [0]
    index = {pts: i for i, pts in enumerate(sorted(pts for pts, _ in packets))}
    # The smallest pts still to come after each decode position: a later packet shown before a
    # keyframe is a leading frame of it.
    later_min = [0] * len(packets)
    smallest = float("inf")
    for position in range(len(packets) - 1, -1, -1):
        later_min[position] = smallest
        smallest = min(smallest, packets[position][0])
    clean = {0}
    for position, (pts, key) in enumerate(packets):
        if key and later_min[position] > pts:
            clean.add(index[pts])
    return sorted(clean)


@dataclass(frozen=True)
class DecodePlan:
    """How [start, stop) is decoded: chunks that start on clean keyframes (parallel when more
    than one), and why decoding is sequential when it has to be."""

    chunks: list[tuple[int, int]]
    note: str | None = None  # said to the user when the plan differs from what was asked


def plan_chunks(start: int, stop: int, keyframes: list[int], splittable: bool = True) -> list[tuple[int, int]]:
    """Split [start, stop) at keyframes into chunks of MIN_CHUNK..MAX_CHUNK frames.

    splittable: the reader seeks frame-accurately inside a group of pictures (decord does), so
    spans longer than MAX_CHUNK may be cut between keyframes to bound memory, and the first chunk
    is FIRST_CHUNK frames long (the first frame comes at once).
    """
    cuts = sorted({k for k in keyframes if start < k < stop})
    chunks, begin = [], start
    for cut in cuts + [stop]:
        while splittable and cut - begin > MAX_CHUNK:
            chunks.append((begin, begin + MAX_CHUNK))
            begin += MAX_CHUNK
        if cut - begin >= MIN_CHUNK or cut == stop:
            if cut > begin:
                chunks.append((begin, cut))
            begin = cut
    if splittable and len(chunks) > 1 and chunks[0][1] - chunks[0][0] > FIRST_CHUNK:
        (begin, end), first_end = chunks[0], chunks[0][0] + FIRST_CHUNK
        chunks[:1] = [(begin, first_end), (first_end, end)]
    return chunks


def in_one_pass(start: int, stop: int, workers: int) -> bool:
    """One decoder for [start, stop): one worker, or too few frames for two chunks."""
    return workers <= 1 or stop - start < 2 * MIN_CHUNK


def plan_decode(info: VideoInfo, start: int, stop: int, workers: int, reader: FrameReader) -> DecodePlan:
    """Chunks for `workers` decoders that return exactly what one sequential decoder returns."""
    if in_one_pass(start, stop, workers):
        return DecodePlan([(start, stop)])
    clean = clean_keyframes(info.path)
    # decord lists keyframes by decode position; only those that are also clean presentation
    # positions are safe places to start a chunk. Other readers start at clean keyframes.
    listed = set(reader.keyframes()) if isinstance(reader, DecordReader) else set(clean)
    chunks = plan_chunks(start, stop, sorted(listed & set(clean)), splittable=isinstance(reader, DecordReader))
    if len(chunks) == 1 and listed - set(clean):
        return DecodePlan(chunks, "open-GOP keyframes (typical of phone HEVC): decoding with one worker so that "
                                  "every frame is exact")
    return DecodePlan(chunks)


def parallel_frames(
    info: VideoInfo,
    start: int,
    stop: int,
    workers: int,
    transform: Callable[[Frame], T],
    backend: str = "auto",
    on_note: Callable[[str], None] = lambda text: None,
) -> Iterator[T]:
    """transform(frame) for every frame in [start, stop) that decodes, in order: by `workers`
    threads, each a keyframe-aligned chunk (_chunked_frames), or, where the file has to be read
    in one pass, by one thread READ_AHEAD frames ahead of the caller.

    One pass, by PyAV (OpenCV where `backend` asks for it): a clip whose container gives no
    frame count (decoded to its end, or to `stop`); a trimmed clip whose edit list hides its
    first frames (decord returns the shown frames but counts and times them as if the hidden ones
    came first: frame k of dog_4s trimmed by 20 was given frame k - 20's time, and 20 copies of
    the last frame ended it); and one worker, a short clip or an open-GOP file, since decord's
    reader decodes ahead of its caller in a thread of its own and without bound (decord 0.6
    issues #157, #208: 7 GB for 112 s of 720p read by one reader).

    Where decord or OpenCV gives up (a damaged or truncated file), PyAV decodes the rest,
    skipping damaged packets, so every frame that is still in the file is kept; a DecodeError
    then says where the frames run out."""
    if not info.frame_count or info.lead_in or (backend != "opencv" and in_one_pass(start, stop, workers)):
        if info.lead_in and workers > 1:
            on_note(f"its edit list hides the first {info.lead_in} stored frames (a trimmed clip): decoding "
                    "with PyAV, which counts and times frames as players do, with one worker")
        yield from read_ahead(_pyav_pass(info, start, stop, transform), READ_AHEAD)
        return
    reader = open_reader(info, backend)
    plan = plan_decode(info, start, stop, workers, reader)
    if plan.note:
        on_note(plan.note)
    if len(plan.chunks) <= 1 and isinstance(reader, DecordReader):  # open-GOP: no clean place to split
        yield from read_ahead(_pyav_pass(info, start, stop, transform), READ_AHEAD)
        return
    try:
        if len(plan.chunks) <= 1:  # OpenCV (asked for, or a rotated clip) in one pass
            yield from read_ahead((transform(frame) for frame in reader.frames(start, stop)), READ_AHEAD)
        else:
            yield from _chunked_frames(info.path, type(reader), plan.chunks, workers, transform)
    except DecodeError as error:
        yield from _salvage(info, error, stop, transform, on_note)


def _pyav_pass(info: VideoInfo, start: int, stop: int | None, transform: Callable[[Frame], T]) -> Iterator[T]:
    """transform(frame) for the frames from `start` on, as PyAV decodes them sequentially
    (damaged packets skipped), until `stop` or the end of the file; a DecodeError where they run
    out before the container's count."""
    replay = SourceReplay(info)
    index = start
    try:
        for frame in replay.frames(start, on_audio=lambda packet: None):
            if stop is not None and frame.index >= stop:
                return
            yield transform(Frame(frame.index, frame.time_s, frame.rgb))
            index += 1
    finally:
        replay.close()
    if info.frame_count and stop is not None and index < stop:
        raise DecodeError(info.path, index, "no more frames decode (a truncated or damaged file)")


def _salvage(info: VideoInfo, error: DecodeError, stop: int, transform: Callable[[Frame], T],
             on_note: Callable[[str], None]) -> Iterator[T]:
    """The frames from error.frame on, as PyAV decodes them; raises DecodeError where they end."""
    decoded = 0
    try:
        for result in _pyav_pass(info, error.frame, stop, transform):
            yield result
            decoded += 1
    finally:
        if decoded:
            on_note(f"the decoder stopped at frame {error.frame} ({error.reason}); PyAV decoded "
                    f"{decoded} more frames past it")


def _chunked_frames(path: Path, reader_type: Callable[[Path], FrameReader], chunks: list[tuple[int, int]],
                    workers: int, transform: Callable[[Frame], T]) -> Iterator[T]:
    """transform(frame) for every frame of `chunks`, in order, decoded by `workers` threads.

    Each worker opens its own reader and decodes whole chunks that start on clean keyframes
    (plan_decode), so the result is exactly what one sequential decoder gives. Only `workers + 1`
    chunks of *transformed* results (small model inputs, not full frames) are held at once. A
    decode error is raised at its place in the order, after every frame before it has been yielded.
    """

    def decode_chunk(chunk: tuple[int, int]) -> tuple[list[T], Exception | None]:
        results: list[T] = []
        try:
            for frame in reader_type(path).frames(*chunk):
                results.append(transform(frame))
        except DecodeError as exc:
            return results, exc
        return results, None

    for _, (results, error) in ordered_map(decode_chunk, chunks, workers, window=workers + 1):
        yield from results
        if error is not None:
            raise error


@dataclass(frozen=True)
class SourceFrame:
    """A frame decoded by PyAV with its container timestamp (for re-timing nothing on output)."""

    index: int
    pts: int  # in the video stream's time base
    time_s: float
    rgb: np.ndarray  # upright (rotation tag applied)


class SourceReplay:
    """The source decoded once more, sequentially, by PyAV, for the annotated video: frames with
    their container timestamps, and the audio stream to copy. Index = count of decoded frames
    from the first, as every FrameReader counts, so a consumer can check that it is drawing the
    frame it was told about."""

    def __init__(self, info: VideoInfo):
        self.info = info
        try:
            self._container = av.open(str(info.path))
        except av.FFmpegError as exc:
            raise VideoError(f"{info.path}: cannot open it again for the annotated video ({exc.strerror or exc})") from exc
        self.video = self._container.streams.video[0]
        # Slice threads only: frame threading drops the frames in flight when a packet is damaged
        # (78 instead of 80 on a truncated test clip), and is no faster here (4.0 vs 3.5 ms per
        # 720p frame, dog.mp4, 2 cores).
        self.video.thread_type = "SLICE"
        self.audio = self._container.streams.audio[0] if self._container.streams.audio else None

    @property
    def time_base(self) -> Fraction:
        return self.video.time_base

    def frames(self, start: int, on_audio: Callable[["av.Packet"], None]) -> Iterator[SourceFrame]:
        """Frames from index `start` on; audio packets met on the way go to on_audio."""
        index = -1
        for packet in self._container.demux([s for s in (self.video, self.audio) if s is not None]):
            if packet.stream.type == "audio":
                on_audio(packet)
                continue
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                continue  # a damaged packet: the consumer's index check says what went missing
            for frame in decoded:
                index += 1
                if index < start:
                    continue
                rgb = frame.to_ndarray(format="rgb24")
                if self.info.rotation:
                    rgb = np.ascontiguousarray(np.rot90(rgb, self.info.rotation // 90))
                if frame.pts is None:  # a raw stream (.h264) has no timestamps: frame k at k / rate
                    time_s = index / float(self.info.rate)
                    yield SourceFrame(index, int(round(time_s / self.time_base)), time_s, rgb)
                else:
                    yield SourceFrame(index, int(frame.pts), float(frame.time), rgb)

    def close(self) -> None:
        self._container.close()


def frame_range(info: VideoInfo, start_s: float | None, end_s: float | None) -> tuple[int, int | None]:
    """Frame indices [start, stop) for a time range (seconds), clamped to the video; stop is None
    (to the end) for a clip whose container gives no frame count and no --end."""
    start = 0 if start_s is None else max(0, int(round(start_s * info.fps)))
    end = None if end_s is None else int(round(end_s * info.fps))
    if not info.frame_count:
        return start, None if end is None else max(start, end)
    stop = info.frame_count if end is None else min(info.frame_count, end)
    return start, max(start, stop)


class _OutputFile:
    """The file libav writes a video through, opened and closed by us. PyAV closes a file that
    libav opened only once the video's header has been written, so after a failed first write
    (a full disk) a handle on the deleted partial file stayed open for the life of the process,
    and with it the file's space. Unbuffered, so a write error comes from `write`; an error is
    handed to libav as its error code (a Python exception raised in PyAV's I/O callbacks is
    printed as a traceback), and PyAV raises it as the OSError it is."""

    def __init__(self, path: Path):
        self.name = str(path)  # what PyAV's errors name
        self._raw = open(path, "w+b", buffering=0)  # read back too: +faststart moves the index to the front

    def write(self, data: bytes) -> int:
        """All of `data`: libav counts any answer that is not an error as all of it written."""
        view, written = memoryview(data), 0
        try:
            while written < len(view):
                written += self._raw.write(view[written:])
        except OSError as exc:
            return _libav_error(exc)
        return written

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        try:
            return self._raw.seek(offset, whence)
        except OSError as exc:
            return _libav_error(exc)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()


def _libav_error(exc: OSError) -> int:
    return -(exc.errno or errno.EIO)  # AVERROR(e) is -e on POSIX


class VideoWriter:
    """MP4 writer: H.264 where libx264 is available, MPEG-4 part 2 otherwise, always yuv420p (what
    browsers and most players play). yuv420p needs even sizes: an odd width or height is padded by
    one pixel on the right or bottom, a copy of the edge (the CSV stays in the source's pixels).

    Timing, one of: `rate` alone, frame k shown at k / rate (a constant rate, exactly the
    source's); `rate` and `time_base`, each frame written with its own pts in time_base units
    (the source's timestamps kept, so a variable-frame-rate clip stays in sync); `rate` None
    (live mode), each frame written with its pts in milliseconds. `audio`: a source audio stream
    whose packets `mux_audio` copies without re-encoding.
    """

    def __init__(self, path: Path, width: int, height: int, rate: Fraction | None, crf: int = 23,
                 time_base: Fraction | None = None, audio: "av.audio.stream.AudioStream | None" = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = partial_path(self.path)
        self._file = _OutputFile(self._tmp)
        try:
            self._container = av.open(self._file, "w", format="mp4", options={"movflags": "+faststart"})
        except BaseException:
            self._file.close()
            commit(self._tmp, self.path, keep=False)
            raise
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        self._stream = self._container.add_stream(codec, rate=rate or Fraction(30))
        self._pad = (width % 2, height % 2)  # columns and rows added to reach even sizes
        self._stream.width, self._stream.height = width + self._pad[0], height + self._pad[1]
        self._stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            # superfast: on 2 cores H.264 encoding is the end-to-end bottleneck; it is 1.3x faster
            # than veryfast for ~2x the file size, still smaller than typical sources (docs/benchmarks.md).
            self._stream.options = {"crf": str(crf), "preset": "superfast"}
        self._given_pts = rate is None or time_base is not None
        self._stream.codec_context.time_base = time_base or (Fraction(1, 1000) if rate is None else 1 / Fraction(rate))
        self._audio = self._container.add_stream_from_template(audio) if audio is not None else None
        self.codec = f"{'H.264' if codec == 'libx264' else 'MPEG-4 part 2'} ({self._stream.pix_fmt})"
        self.frames = 0
        self._last_pts = -1
        self._closed = False
        self._failed = False

    @property
    def time_base(self) -> Fraction:
        return self._stream.codec_context.time_base

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """pts: the frame's time in time_base units (given-timestamp modes); kept strictly increasing."""
        if any(self._pad):
            rgb = cv2.copyMakeBorder(rgb, 0, self._pad[1], 0, self._pad[0], cv2.BORDER_REPLICATE)
        # OpenCV's RGB->I420 is ~15x faster than letting FFmpeg's swscale convert rgb24 (0.2 vs
        # 3.3 ms at 720p), a sixth of the encoder's own time.
        frame = av.VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
        if self._given_pts:
            frame.pts = self._last_pts = max(int(pts or 0), self._last_pts + 1)
        else:
            frame.pts = self.frames
        with self._guard():
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        self.frames += 1

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Remember a failed write (a full disk): libav crashes if an encoder whose output
        failed is flushed, so close() then only discards the file."""
        try:
            yield
        except (OSError, av.FFmpegError):
            self._failed = True
            raise

    def mux_audio(self, packet: "av.Packet", offset_s: float = 0.0) -> None:
        """Copy a source audio packet, shifted `offset_s` earlier (the trimmed start); packets that
        would fall before zero are dropped."""
        if self._audio is None or packet.pts is None:
            return
        shift = round(offset_s / packet.time_base)
        if packet.pts - shift < 0:
            return
        packet.pts -= shift
        if packet.dts is not None:
            packet.dts -= shift
        packet.stream = self._audio
        with self._guard():
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and move the file into place (also after an interruption)."""
        if self._closed:
            return
        self._closed = True
        if not self._failed:
            try:
                for packet in self._stream.encode():
                    self._container.mux(packet)
                self._container.close()
                self._file.close()
            except (OSError, av.FFmpegError):
                self._discard()
                raise
            commit(self._tmp, self.path, keep=self.frames > 0)
            return
        self._discard()

    def _discard(self) -> None:
        """After a failed write: release the file without flushing, and leave any earlier file at
        path as it was."""
        with contextlib.suppress(OSError, av.FFmpegError):
            self._container.close()
        with contextlib.suppress(OSError):
            self._file.close()
        commit(self._tmp, self.path, keep=False)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
