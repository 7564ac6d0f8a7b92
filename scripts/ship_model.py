"""Copy a run's weights to where they ship, recording what they were trained on.

The copy carries, in its safetensors metadata, the micrographs the run trained on
(``midnet.trained_on``: `midnet eval` warns when it scores one of them) and the range of
the domain measures over its training frames (``midnet.domain``: `midnet deblur` warns on
inputs far outside it). `midnet train` records that range in the run's weights; for runs
made before it did, it is measured here from the run's own saved config, the same way
(``midnet.training.dataset.training_domain``: the pairs as training loaded them).

    python scripts/ship_model.py runs/sem-all midnet/pretrained/midnet-sem.safetensors
    python scripts/ship_model.py runs/sem-fold0 models/folds/midnet-sem-fold0.safetensors
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from midnet.quality import domain
from midnet.data import split_names
from midnet.data.pairs import find_pairs
from midnet.errors import MidnetError
from midnet.training import load_config, read_init_weights
from midnet.training.config import TrainConfig
from midnet.training.dataset import load_training_data, training_domain
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
    weights = args.run / "last.safetensors"
    metadata = {k: v for k, v in read_metadata(weights).items() if not k.startswith("midnet.format")
                and k != "midnet.config"}
    ranges = domain.domain_from_metadata(metadata) or _measured_domain(config)
    metadata.update({TRAINED_ON_KEY: json.dumps(train_names), domain.DOMAIN_KEY: json.dumps(ranges),
                     "midnet.train_config": config.model_dump_json()})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_model(load_model(weights), args.output, metadata=metadata)
    print(f"wrote {args.output}: trained on {', '.join(train_names)}; held out {', '.join(held) or 'none'}; "
          f"domain {json.dumps(ranges)}")


def _measured_domain(config: TrainConfig) -> dict[str, list[float]]:
    """The domain `midnet train` records now, for a run made before it did: its training pairs loaded (and
    registered) as training loads them; a recipe with synthetic pairs trained on the in-focus exposures too."""
    pairs = load_training_data(config.data, config.seed, print).pairs
    return training_domain(config, pairs, _first_weights_metadata(config))


def _first_weights_metadata(config: TrainConfig) -> dict[str, str]:
    """The metadata of the weights the run started from (``model.init_from``; {} from scratch)."""
    if not config.model.init_from:
        return {}
    try:
        return read_init_weights(config.model.init_from)[1]
    except MidnetError as exc:  # moved or deleted since the run: the run's own frames still give a domain
        print(f"note: {exc}; the domain is the run's own frames'")
        return {}


if __name__ == "__main__":
    main()
