"""pettrack: find a pet's nose in every image of a folder and every frame of a video.

The names a script needs; the `pettrack` command is the main way in (pipelines/cli.py).

    import pettrack
    track = pettrack.load_track("clip.pettrack.csv")  # a pandas DataFrame, one row per (frame, track)
"""

__all__ = ["RunRecord", "load_track"]


def __getattr__(name: str):
    # Imported on first use: every `pettrack.*` import passes through this package, and the
    # command must not load torch before it can handle Ctrl-C (pipelines/entry.py).
    if name in __all__:
        from pettrack.pipelines import tables

        return getattr(tables, name)
    raise AttributeError(f"module 'pettrack' has no attribute {name!r}")
