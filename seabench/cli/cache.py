"""`seabench cache`: list, verify and prune feature cache entries."""

from __future__ import annotations

import click

from seabench.cli._common import (
    CONTEXT,
    _home,
    home_option,
    table_console,
)
from seabench.errors import SeabenchError


@click.group(context_settings=CONTEXT)
def cache():
    """The feature cache: list, verify and prune entries.

    \b
    Examples:
      seabench cache ls
      seabench cache verify
      seabench cache prune --older-than 30
      seabench cache prune --key 3f2a9c
    """


@cache.command("ls", context_settings=CONTEXT)
@home_option
def cache_ls(home):
    """List entries (key inputs, counts train/val/test, size) and unfinished extractions."""
    from rich.markup import escape
    from rich.table import Table

    from seabench.features.cache import FeatureCache, describe, dir_bytes

    store = FeatureCache(_home(home).features)
    entries, broken = store.scan()
    table = Table(title=f"feature cache {escape(str(store.directory))}")
    for col in (
        "key",
        "dataset",
        "backbone",
        "px",
        "dtype",
        "views",
        "train/val/test",
        "MB",
        "created",
    ):
        table.add_column(
            col,
            justify="right" if col in ("px", "MB") else "left",
            overflow="fold",
            no_wrap=col == "key",
        )
    for e in entries:
        d = describe(e)
        cells = (
            d["key"],
            d["dataset"],
            d["backbone"],
            d["size"],
            d["dtype"],
            d["views"],
            d["counts"],
            f"{d['bytes'] / 1e6:.1f}",
            d["created"][:16].replace("T", " "),
        )
        table.add_row(*(escape(str(c)) for c in cells))
    table_console().print(table)
    for b in broken:
        click.echo(f"broken {b.key}: {b.reason}")
    for p in store.partials():
        chunks = len(list(p.glob("*.safetensors")))
        click.echo(
            f"unfinished {p.name}: {chunks} finished chunk(s), "
            f"{dir_bytes(p) / 1e6:.1f} MB (resumes on the same extract command)"
        )
    for t in store.temporaries():
        click.echo(
            f"leftover {t.name}: {dir_bytes(t) / 1e6:.1f} MB from an interrupted commit "
            "(removed by the next extraction of its key, or `seabench cache prune`)"
        )
    click.echo(
        f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, "
        f"{sum(e.size_bytes() for e in entries) / 1e6:.1f} MB"
    )


@cache.command("verify", context_settings=CONTEXT)
@home_option
def cache_verify(home):
    """Check every entry's checksums (tensors and sidecar) and key; exit 2 naming the damaged
    ones."""
    from seabench.features.cache import CorruptEntry, FeatureCache

    store = FeatureCache(_home(home).features)
    entries, broken = store.scan()
    bad = [b.key for b in broken]
    for b in broken:
        click.echo(f"CORRUPT {b.key}: {b.reason}")
    for e in entries:
        try:
            e.verify()
            click.echo(f"ok {e.key} {e.dataset} / {e.backbone}")
        except CorruptEntry as exc:
            click.echo(f"CORRUPT {e.key}: {exc}")
            bad.append(e.key)
    if bad:
        raise SeabenchError(
            f"{len(bad)} corrupted cache entr{'y' if len(bad) == 1 else 'ies'}: {', '.join(bad)}; "
            "run their `seabench extract` again to rebuild them, or `seabench cache prune` "
            "--key KEY to delete them"
        )
    click.echo(f"all {len(entries)} entries verified")


@cache.command("prune", context_settings=CONTEXT)
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(0),
    default=None,
    metavar="DAYS",
    help="Delete entries created more than DAYS days ago.",
)
@click.option(
    "--key", "keys", multiple=True, help="Delete this entry (a key or its prefix; repeatable)."
)
@click.option(
    "--partials/--no-partials",
    default=True,
    show_default=True,
    help="Also delete unfinished extractions (of --key / --older-than if given).",
)
@home_option
def cache_prune(older_than, keys, partials, home):
    """Delete entries by age or key, damaged entries and stale unfinished extractions.

    Without --older-than or --key only damaged entries and unfinished extractions go; an
    extraction running right now is never touched.
    """
    from seabench.features.cache import FeatureCache

    removed = FeatureCache(_home(home).features).prune(
        older_than_days=older_than, keys=tuple(keys), partials=partials
    )
    for name in removed:
        click.echo(f"removed {name}")
    click.echo(f"{len(removed)} removed")
