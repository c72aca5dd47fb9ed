"""The `gansr` command line: parse options, call the library, print. No logic lives here."""

from __future__ import annotations

import click

from gan_sr import __version__
from gan_sr.cli.common import GansrGroup, examples


@click.group(
    cls=GansrGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=examples(
        "gansr data synth --out data/synth --n 64",
        "gansr data build ~/art --out data/anime",
        "gansr sr train --model espcn --scale 4 --data data/anime --preset cpu",
        "gansr upscale sample.png -o out/ --model esrgan --scale 4",
        "gansr posthoc --sr esrgan",
    ),
)
@click.version_option(__version__, "--version", prog_name="gansr")
def main() -> None:
    """gansr: super-resolution and limited-data GANs for anime-style images.

    Build datasets from illustrations, train and compare SR models, train an ADA GAN,
    and upscale its samples. Run any command with --help for its options and an example.
    """


def _register() -> None:
    from gan_sr.cli import compare, data, gan, joint, metrics, posthoc, sr, upscale

    main.add_command(data.data)
    main.add_command(sr.sr)
    main.add_command(gan.gan)
    main.add_command(posthoc.posthoc)
    main.add_command(joint.joint_train)
    main.add_command(compare.compare)
    main.add_command(joint.joint_export)
    main.add_command(upscale.upscale)
    main.add_command(metrics.metrics)


_register()
