"""`gansr sr ...`: the super-resolution model zoo: list, train, interpolate, benchmark, export."""

import click

from gan_sr.cli.common import GansrGroup, examples
from gan_sr.cli.sr_bench import bench
from gan_sr.cli.sr_export import export
from gan_sr.cli.sr_models import models
from gan_sr.cli.sr_train import interpolate, train


@click.group(cls=GansrGroup, epilog=examples("gansr sr models --scale 4", "gansr sr train --model espcn --scale 4 --data data/anime"))
def sr() -> None:
    """Super-resolution models: list, train, interpolate, benchmark, export."""


sr.add_command(models)
sr.add_command(train)
sr.add_command(interpolate)
sr.add_command(bench)
sr.add_command(export)
