"""Copy a run's weights to where they ship, recording what they were trained on.

The copy carries, in its safetensors metadata, the micrographs the run trained on
(``midnet.trained_on``: `midnet eval` warns when it scores one of them) and the range of
the domain measures over their blurry frames (``midnet.domain``: `midnet deblur` warns on
inputs far outside it). Both come from the run's own saved config, so runs made before
the training package recorded them can be shipped the same way.

    python scripts/ship_model.py runs/sem-all midnet/pretrained/midnet-sem.safetensors
    python scripts/ship_model.py runs/sem-fold0 models/folds/midnet-sem-fold0.safetensors
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from midnet.quality import domain
from midnet.data import load_pairs, split_names
from midnet.data.pairs import find_pairs
from midnet.training import load_config
from midnet.models.weights import TRAINED_ON_KEY, read_metadata, save_model
from midnet.models.zoo import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="run folder with config.yaml and last.safetensors")
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    config = load_config(args.run / "config.yaml")
    names = [n for n, _, _ in find_pairs(config.data.path)]
    train_names, held = split_names(names, config.data.val_names, config.data.folds, config.data.fold)
    pairs = load_pairs(config.data.path, config.data.infobar, train_names, align="none", warn_shift=False)
    # a recipe with synthetic pairs trained on the in-focus exposures too (every blur width from none): its
    # domain spans them, so an in-focus micrograph is not reported as unlike the training data
    frames = [(p.blur, p.full_scale) for p in pairs]
    frames += [(p.sharp, p.full_scale) for p in pairs] if config.data.synthetic.share > 0 else []
    ranges = domain.fit([domain.describe(frame, full_scale) for frame, full_scale in frames])
    weights = args.run / "last.safetensors"
    metadata = {k: v for k, v in read_metadata(weights).items() if not k.startswith("midnet.format")
                and k != "midnet.config"}
    metadata.update({TRAINED_ON_KEY: json.dumps(train_names), domain.DOMAIN_KEY: json.dumps(ranges),
                     "midnet.train_config": config.model_dump_json()})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_model(load_model(weights), args.output, metadata=metadata)
    print(f"wrote {args.output}: trained on {', '.join(train_names)}; held out {', '.join(held) or 'none'}; "
          f"domain {json.dumps(ranges)}")


if __name__ == "__main__":
    main()
