"""``midnet cache``: where midnet keeps what it derives from a network (midnet/inference/cache.py), what is there, emptying it."""

from __future__ import annotations

import click


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


@click.command("cache", short_help="Show or clear the cache of exported and compiled models.")
@click.option("--path", "show_path", is_flag=True, help="Print the cache folder and nothing else.")
@click.option("--clear", is_flag=True, help="Remove every cached file midnet made (a write under way stays); it is rebuilt when needed.")
def cache_cmd(show_path: bool, clear: bool) -> None:
    """List the cache, print its folder or clear it.

    The cache holds the ONNX export of each network (--engine onnx, openvino), OpenVINO's
    compiled models and --engine auto's measurements. Its folder is the user cache folder
    (e.g. ~/.cache/midnet), or $MIDNET_CACHE_DIR when set; only midnet's subfolders of it
    (onnx, openvino, engine-choice) are listed or cleared.
    """
    from ..inference import cache

    if show_path and clear:
        raise click.UsageError("give --path or --clear, not both")
    if show_path:
        click.echo(str(cache.cache_dir()))
        return
    if clear:
        count = cache.clear()
        click.echo(f"removed {count} cached file{'s' if count != 1 else ''} from {cache.cache_dir()}")
        return
    found = cache.entries()
    root = cache.cache_dir()
    for entry in found:
        click.echo(f"{_size(entry.size):>10}  {entry.path.relative_to(root)}")
    click.echo(f"{len(found)} file{'s' if len(found) != 1 else ''}, {_size(sum(e.size for e in found))} in {root}")
