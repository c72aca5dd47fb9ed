"""`gansr sr ...`: the super-resolution model zoo: list, train, interpolate, benchmark, export."""

import click

from gan_sr.cli.common import GansrGroup, examples, not_built
from gan_sr.cli.sr_models import models
from gan_sr.cli.sr_train import interpolate, train


@click.group(cls=GansrGroup, epilog=examples("gansr sr models --scale 4", "gansr sr train --model espcn --scale 4 --data data/anime"))
def sr() -> None:
    """Super-resolution models: list, train, interpolate, benchmark, export."""


sr.add_command(models)
sr.add_command(train)
sr.add_command(interpolate)


@sr.command(epilog=examples("gansr sr bench --models all --data Set5,Set14 --scale 4"))
def bench():
    """Compare SR methods: quality, speed, memory, pictures."""
    not_built("gansr sr bench", "issue 5")


@sr.command(epilog=examples("gansr sr export --model espcn --scale 4 --onnx espcn_x4.onnx"))
def export():
    """Export a model to ONNX with dynamic height and width."""
    not_built("gansr sr export", "issue 5")
