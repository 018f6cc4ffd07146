"""Average the weights of runs that share a starting point, and choose the average's presence threshold.

Fine-tunes of one set of weights stay close enough to each other that their mean is itself a good
model, often better than either (Wortsman et al. 2022, "model soups"; the EMA that training keeps
is the same idea along one run). The shipped `default` is such a mean (docs/model.md): the
9-epoch footage fine-tune and its 24-epoch continuation.

The presence threshold of the mean is chosen as training chooses it: the best balanced accuracy
on the footage validation set, built from the validation side of train's deterministic split.

    python -m pettrack.model.average A.safetensors B.safetensors --out MEAN.safetensors \
        --images ../shared/data/pet-noses/images --labels ../shared/data/pet-noses/train_noses.txt
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

from .evaluate import FootageSummary, footage_cases, predict_footage, summarize_footage
from .files import OutputError, check_outputs
from .devices import resolve_precision
from .localizer import Localizer
from .net import NoseNet
from .train import SilentReporter, TrainConfig, TrainingError, load_split
from .weights import ModelInfo, WeightsError, load_model, save_weights, weights_file


def average_models(paths: list[Path]) -> tuple[NoseNet, ModelInfo]:
    """The element-wise mean of the weights files' tensors (BatchNorm statistics included), with
    the first file's metadata. Files of different shapes are refused."""
    if len(paths) < 2:
        raise WeightsError("averaging needs at least two weights files")
    loaded = [load_model(path) for path in paths]
    sizes = {info.net.input_size for _, info in loaded}
    if len(sizes) > 1:
        raise WeightsError(f"the weights have different input sizes ({sorted(sizes)}); they cannot be averaged")
    states = [model.state_dict() for model, _ in loaded]
    mean = {name: torch.stack([state[name] for state in states]).mean(dim=0) if tensor.is_floating_point()
            else tensor  # BatchNorm's step counter: not a weight
            for name, tensor in states[0].items()}
    model, info = loaded[0]
    model.load_state_dict(mean)
    info.training = {
        "averaged": [str(weights_file(path)) for path in paths],
        "parts": [part.training for _, part in loaded],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return model.eval(), info


def choose_threshold(model: NoseNet, info: ModelInfo, images: Path, labels: Path, out: Path,
                     val_fraction: float = 0.1) -> FootageSummary:
    """The footage validation figures of `model` at its best presence threshold, scored as
    training scores an epoch (the same split, views and precision)."""
    config = TrainConfig(images=images, labels=labels, out=out, input_size=info.net.input_size,
                         val_fraction=val_fraction)
    _, val_set, _ = load_split(config, SilentReporter())
    evaluator = Localizer.from_model(model, info, "cpu", resolve_precision(config.precision, "cpu"))
    cases = footage_cases(val_set, config.input_size, config.split_seed)
    return summarize_footage(predict_footage(evaluator, cases, batch_size=64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path, nargs="+", help="weights files (.safetensors) to average")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True, help="the labelled images train used")
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--val-fraction", type=float, default=0.1, help="train's validation share (as in train)")
    args = parser.parse_args()
    try:
        check_outputs([args.out], [weights_file(path) for path in args.weights])
        model, info = average_models(args.weights)
        footage = choose_threshold(model, info, args.images, args.labels, args.out, args.val_fraction)
    except (OutputError, WeightsError, TrainingError) as exc:
        sys.exit(f"pettrack.model.average: {exc}")
    info.presence_threshold = footage.threshold
    info.metrics = {"footage": footage.to_dict()}
    save_weights(args.out, model, info)
    print(f"wrote {args.out}: presence threshold {footage.threshold:.3f}, footage views right {footage.accuracy:.1%}, "
          f"nose-free rejected {footage.rejected:.1%}")


if __name__ == "__main__":
    main()
