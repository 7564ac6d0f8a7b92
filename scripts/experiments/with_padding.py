"""A copy of a MIDNet/NAFNet weights file whose convolutions pad another way (docs/results.md 11.5).

    python scripts/experiments/with_padding.py WEIGHTS OUT.safetensors [--padding reflect]

The tensors are copied as they are; only the recorded config's ``padding`` changes, so the copy
shows what a network trained with one padding does with the other, before any training.
"""

from __future__ import annotations

import argparse
import json

from safetensors.torch import save_file

from midnet.models import parse_model_config
from midnet.models.weights import CONFIG_KEY, read_weights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("out")
    ap.add_argument("--padding", default="reflect", choices=["zeros", "reflect"])
    args = ap.parse_args()
    state, meta = read_weights(args.weights)
    config = parse_model_config(meta[CONFIG_KEY]).model_copy(update={"padding": args.padding})
    save_file({k: v.contiguous() for k, v in state.items()}, args.out,
              metadata={**meta, CONFIG_KEY: json.dumps(config.model_dump(mode="json"))})
    print(f"{args.out}: {config}")


if __name__ == "__main__":
    main()
