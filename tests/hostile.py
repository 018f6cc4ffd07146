"""A generated corpus of broken, odd and malicious inputs and output targets (tests/test_hardening.py).

Everything is made in a temp folder from the shipped samples, small and fast to build.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import SAMPLES

GOOD_IMAGES = ("beagle_100.jpg", "Persian_2.jpg")


def good_folder(root: Path) -> Path:
    """Two real pet photos."""
    root.mkdir(parents=True, exist_ok=True)
    for name in GOOD_IMAGES:
        shutil.copy(SAMPLES / "images" / name, root / name)
    return root


def broken_images(root: Path) -> dict[str, str]:
    """Files that look like images and are not, by name -> what is wrong with them."""
    jpeg = (SAMPLES / "images" / "pug_140.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (root / "empty.png").write_bytes(b"")
    (root / "text.jpg").write_text("this is not a picture\n")
    buffer = io.BytesIO()
    Image.new("1", (30000, 30000)).save(buffer, "PNG")  # 900 megapixels: a decompression bomb
    (root / "bomb.png").write_bytes(buffer.getvalue())
    return {"truncated.jpg": "truncated", "empty.png": "empty", "text.jpg": "not an image", "bomb.png": "bomb"}


def odd_entries(root: Path) -> list[str]:
    """Things in a folder that are not readable files: a dangling link, a FIFO, a link loop."""
    (root / "dangling.jpg").symlink_to(root / "does-not-exist.jpg")
    os.mkfifo(root / "pipe.jpg")
    (root / "loop").symlink_to(root, target_is_directory=True)
    return ["dangling.jpg", "pipe.jpg"]


def non_utf8_name(root: Path) -> Path:
    """A photo whose file name is not valid UTF-8 (bytes b'caf\\xe9.jpg', Latin-1)."""
    path = Path(os.fsdecode(bytes(root) + b"/caf\xe9.jpg"))
    shutil.copy(SAMPLES / "images" / "pug_140.jpg", path)
    return path


def markup_name(root: Path) -> Path:
    """A photo named like rich console markup."""
    path = root / "[bold red]boom.jpg"
    shutil.copy(SAMPLES / "images" / "Siamese_25.jpg", path)
    return path


def truncated_video(path: Path) -> Path:
    """The sample clip cut to 60% of its bytes (the container still lists every frame)."""
    data = (SAMPLES / "dog_4s.mp4").read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    return path


def pickle_weights(path: Path, marker: Path) -> Path:
    """A pickle that creates `marker` if anything ever unpickles it."""

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path.write_bytes(pickle.dumps(Payload()))
    return path


def hostile_labels(path: Path) -> Path:
    """A label file with good lines among a non-UTF-8 line, a 5 MB line and names that leave --images."""
    lines = [b'beagle_100.jpg,"(71, 211)"', b'caf\xe9\xff.jpg,"(1, 2)"', b"x" * 5_000_000,
             b'/etc/hostname,"(1, 2)"', b'../../outside.jpg,"(1, 2)"', b'Persian_2.jpg,"(150, 160)"']
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def full_filesystem(mount: Path, size: str = "64k") -> bool:
    """A small tmpfs (64 KiB) at `mount` (needs root and mount rights); False when it cannot be made."""
    mount.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    import subprocess

    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True)
    return made.returncode == 0


def release_filesystem(mount: Path) -> None:
    """Unmount it now, even while a handle is still open on it (the tmpfs then goes when the
    handle is closed)."""
    import subprocess

    subprocess.run(["umount", "--lazy", str(mount)], capture_output=True)


def filler(path: Path) -> None:
    """Fill what is left of a small filesystem."""
    try:
        with open(path, "wb") as handle:
            while True:
                handle.write(np.zeros(4096, np.uint8).tobytes())
                handle.flush()
    except OSError:
        pass
