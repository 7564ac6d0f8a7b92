"""A copy of a MIDNet/NAFNet weights file whose convolutions pad another way (docs/results.md 11.5).

    python scripts/experiments/with_padding.py WEIGHTS OUT.safetensors [--padding reflect]

The tensors are copied as they are; only the recorded config's ``padding`` changes, so the copy
shows what a network trained with one padding does with the other, before any training.
"""

from __future__ import annotations

import argparse

from midnet.models import build_model
from midnet.models.weights import CONFIG_KEY, load_state_strict, read_weights, save_model
from midnet.models.zoo import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("out")
    ap.add_argument("--padding", default="reflect", choices=["zeros", "reflect"])
    args = ap.parse_args()
    source = load_model(args.weights)
    net = build_model(source.config.model_copy(update={"padding": args.padding}))
    load_state_strict(net, source.state_dict(), args.weights)
    _, meta = read_weights(args.weights)  # what it was trained on and its domain go with the copy
    save_model(net, args.out, metadata={k: v for k, v in meta.items() if k != CONFIG_KEY})
    print(f"{args.out}: {net.config}")


if __name__ == "__main__":
    main()
