"""Rebuild the whole SEM frames of the MIDNet dataset from the overlapping crops its authors published.

The blur/sharp pairs of Wang et al., "MIDNet: Deblurring Network for Material Microstructure
Images", Computers, Materials & Continua 79(1), 2024 (doi 10.32604/cmc.2024.046929, CC BY 4.0)
are in the authors' repository https://github.com/woshigui/MIDNet, under datasets/blur/ and
datasets/sharp/. Each micrograph is there as twelve overlapping 512x512 RGBA crops: a grid of
4 across and 3 down with a stride of 256 px, named NAME_s001.png ... NAME_s012.png row by row.
This script puts each micrograph back together (1280x1024), checks that every pixel that two
crops share agrees, drops the alpha channel (constant in the published crops; checked) and writes
OUT/blur/NAME.png and OUT/sharp/NAME.png, 8-bit RGB like the crops:

    git clone --depth 1 https://github.com/woshigui/MIDNet
    python scripts/rebuild_pairs.py MIDNet/datasets -o ../shared/data/sem-pairs \\
        --names 1-1,2-1,3-1,5-1,6-1,7-1,9-1

--pattern names one crop file inside CROPS/blur and CROPS/sharp. Its fields: {name} (the
micrograph), {index} (1-based, row by row: 1..4 is the top row), {row} (0-based, top to
bottom), {col} (0-based, left to right); format specs work, e.g. {index:03d}. The default,
{name}_s{index:03d}.png, is the authors' naming; crops named by position could use
{name}_{row}_{col}.png. --rows/--cols/--stride describe other grids.

Exit status: 0 when every frame was rebuilt and every overlap agreed; 1 when a crop was missing
or unreadable, overlapping pixels disagreed or an alpha channel varied (those frames are not
written unless --force); 2 for usage errors (no crops match the pattern, bad options).
"""

from __future__ import annotations

import argparse
import re
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_PATTERN = "{name}_s{index:03d}.png"
FIELDS = {"name", "index", "row", "col"}
SIDES = ("blur", "sharp")


@dataclass(frozen=True)
class Grid:
    rows: int = 3
    cols: int = 4
    stride: int = 256

    def positions(self):
        """(index, row, col) of every crop, row by row; index is 1-based."""
        return [(r * self.cols + c + 1, r, c) for r in range(self.rows) for c in range(self.cols)]


@dataclass
class Rebuilt:
    """One frame put back together, and what disagreed on the way."""

    frame: np.ndarray
    mismatched_pixels: int = 0
    max_difference: int = 0
    problems: list[str] = field(default_factory=list)


def check_pattern(pattern: str) -> str:
    """The pattern if it is usable (known fields, {name} and a position in it); ValueError otherwise."""
    try:
        used = {f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    except ValueError as exc:
        raise ValueError(f"--pattern {pattern!r}: {exc}") from None
    unknown = used - FIELDS
    if unknown or "name" not in used or not ({"index"} <= used or {"row", "col"} <= used):
        raise ValueError(f"--pattern {pattern!r}: use {{name}} and either {{index}} or {{row}} and {{col}}"
                         f"{' (unknown: ' + ', '.join(sorted(unknown)) + ')' if unknown else ''}")
    return pattern


def pattern_regex(pattern: str) -> re.Pattern:
    """A regex matching the file names ``pattern`` gives, with the micrograph name as group 'name'."""
    parts, seen_name = [], False
    for literal, name, _, _ in string.Formatter().parse(pattern):
        parts.append(re.escape(literal))
        if name is None:
            continue
        if name == "name" and not seen_name:
            parts.append("(?P<name>.+?)")
            seen_name = True
        else:
            parts.append("(?P=name)" if name == "name" else r"\s*\d+")
    return re.compile("".join(parts) + r"\Z")


def find_names(folder: Path, pattern: str) -> list[str]:
    """The micrograph names with at least one crop file in ``folder`` that ``pattern`` matches."""
    regex = pattern_regex(pattern)
    found = {m["name"] for p in folder.iterdir() if p.is_file() and (m := regex.match(p.name))}
    return sorted(found)


def read_crop(path: Path) -> tuple[np.ndarray, str | None]:
    """The crop's pixels without alpha, and a problem with its alpha channel (None if constant or absent)."""
    from PIL import Image

    with Image.open(path) as im:
        pixels = np.asarray(im)
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4):  # LA or RGBA
        alpha = pixels[..., -1]
        problem = None if alpha.min() == alpha.max() else f"{path.name}: alpha varies ({alpha.min()}..{alpha.max()})"
        return np.ascontiguousarray(pixels[..., :-1].squeeze(-1) if pixels.shape[2] == 2 else pixels[..., :3]), problem
    return pixels, None


def assemble(crops: dict[tuple[int, int], np.ndarray], grid: Grid) -> Rebuilt:
    """The frame the crops tile, each overlapping pixel compared with the crops placed before it."""
    first = next(iter(crops.values()))
    h, w = first.shape[:2]
    shape = ((grid.rows - 1) * grid.stride + h, (grid.cols - 1) * grid.stride + w) + first.shape[2:]
    frame = np.zeros(shape, first.dtype)
    filled = np.zeros(shape[:2], bool)
    out = Rebuilt(frame)
    for (r, c), crop in sorted(crops.items()):
        if crop.shape != first.shape or crop.dtype != first.dtype:
            raise ValueError(f"crop (row {r}, col {c}) is {crop.shape} {crop.dtype}, the first {first.shape} {first.dtype}")
        y, x = r * grid.stride, c * grid.stride
        region, seen = frame[y : y + h, x : x + w], filled[y : y + h, x : x + w]
        diff = np.abs(region.astype(np.int64) - crop.astype(np.int64))
        diff = diff.reshape(h, w, -1).max(axis=2) * seen
        if diff.any():
            out.mismatched_pixels += int(np.count_nonzero(diff))
            out.max_difference = max(out.max_difference, int(diff.max()))
            out.problems.append(f"crop (row {r}, col {c}): {np.count_nonzero(diff)} shared pixels disagree "
                                f"with the crops before it (max difference {diff.max()})")
        region[...] = crop
        seen[...] = True
    return out


def cut_crops(frame: np.ndarray, grid: Grid = Grid(), size: int = 512) -> dict[tuple[int, int], np.ndarray]:
    """The inverse of :func:`assemble`: the grid of overlapping ``size`` x ``size`` crops of ``frame``."""
    need = ((grid.rows - 1) * grid.stride + size, (grid.cols - 1) * grid.stride + size)
    if frame.shape[:2] != need:
        raise ValueError(f"a {grid.rows}x{grid.cols} grid of {size} px crops at stride {grid.stride} needs a "
                         f"{need[1]}x{need[0]} frame, not {frame.shape[1]}x{frame.shape[0]}")
    return {(r, c): frame[r * grid.stride : r * grid.stride + size, c * grid.stride : c * grid.stride + size].copy()
            for _, r, c in grid.positions()}


def rebuild_one(folder: Path, pattern: str, name: str, grid: Grid) -> Rebuilt:
    """Reads the crops of micrograph ``name`` in ``folder`` and assembles them; FileNotFoundError if one is missing."""
    crops, alpha_problems = {}, []
    for index, r, c in grid.positions():
        path = folder / pattern.format(name=name, index=index, row=r, col=c)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing crop (row {r}, col {c}) of {name}; check --pattern and the grid")
        crops[(r, c)], problem = read_crop(path)
        if problem:
            alpha_problems.append(problem)
    rebuilt = assemble(crops, grid)
    rebuilt.problems[:0] = alpha_problems
    return rebuilt


def write_png(path: Path, frame: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(frame).save(tmp, format="PNG")
    tmp.replace(path)


def _echo(line: str) -> None:
    """Progress to stdout; errors, mismatches and frames left unwritten to stderr."""
    print(line, file=sys.stderr if line.startswith(("error", "mismatch", "not written")) else sys.stdout)


def rebuild_pairs(crops: Path, out: Path, pattern: str = DEFAULT_PATTERN, names: list[str] | None = None,
                  grid: Grid = Grid(), force: bool = False, overwrite: bool = False, echo=_echo) -> int:
    """Rebuilds blur/ and sharp/ of every micrograph; returns the number of problems (0: all exact)."""
    if names is None:
        per_side = [set(find_names(crops / side, pattern)) for side in SIDES]
        names = sorted(per_side[0] | per_side[1])
    problems = 0
    for name in names:
        for side in SIDES:
            target = out / side / f"{name}.png"
            if target.exists() and not overwrite:
                echo(f"error: {target} exists; give --overwrite to replace it")
                problems += 1
                continue
            try:
                rebuilt = rebuild_one(crops / side, pattern, name, grid)
            except (OSError, ValueError) as exc:
                echo(f"error: {side}/{name}: {exc}")
                problems += 1
                continue
            for line in rebuilt.problems:
                echo(f"mismatch: {side}/{name}: {line}")
            problems += bool(rebuilt.problems)
            if rebuilt.problems and not force:
                echo(f"not written: {target} (give --force to write it anyway; later crops win)")
                continue
            write_png(target, rebuilt.frame)
            h, w = rebuilt.frame.shape[:2]
            echo(f"wrote {target} ({w}x{h}{', overlaps agree' if not rebuilt.problems else ''})")
    return problems


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("crops", type=Path, help="folder with blur/ and sharp/ of crops (the authors' datasets/)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="pair folder to write blur/ and sharp/ into")
    parser.add_argument("--pattern", default=DEFAULT_PATTERN, help=f"crop file name (default: {DEFAULT_PATTERN})")
    parser.add_argument("--names", help="comma-separated micrographs (default: every one with crops)")
    parser.add_argument("--rows", type=int, default=Grid.rows, help="crops down (default: %(default)s)")
    parser.add_argument("--cols", type=int, default=Grid.cols, help="crops across (default: %(default)s)")
    parser.add_argument("--stride", type=int, default=Grid.stride, help="pixels between crops (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="write frames whose overlaps or alpha disagree")
    parser.add_argument("--overwrite", action="store_true", help="replace existing frames in OUT")
    args = parser.parse_args(argv)
    try:
        check_pattern(args.pattern)
    except ValueError as exc:
        parser.error(str(exc))
    if min(args.rows, args.cols, args.stride) < 1:
        parser.error("--rows, --cols and --stride must be >= 1")
    missing = [str(args.crops / side) for side in SIDES if not (args.crops / side).is_dir()]
    if missing:
        parser.error(f"{', '.join(missing)}: no such folder; CROPS must hold blur/ and sharp/ (the authors' datasets/)")
    args.names = [n.strip() for n in args.names.split(",") if n.strip()] if args.names else None
    if args.names is None and not any(find_names(args.crops / side, args.pattern) for side in SIDES):
        parser.error(f"no file in {args.crops}/blur or /sharp matches --pattern {args.pattern!r}; "
                     "give the pattern of the crop names")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    grid = Grid(args.rows, args.cols, args.stride)
    problems = rebuild_pairs(args.crops, args.out, args.pattern, args.names, grid, args.force, args.overwrite)
    if problems:
        print(f"{problems} frame(s) with problems (see above)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
