"""`gansr joint-train`: a base generator and an SR stage trained together as one progressive stack."""

import click

from gan_sr.cli.common import examples, not_built


@click.command(name="joint-train", epilog=examples("gansr joint-train --data data/anime --sr espcn --res 64 --scale 2"))
def joint_train():
    """Train a generator and an SR stage jointly (progressive fade-in)."""
    not_built("gansr joint-train", "issue 7")
