"""What every command shares: the error boundary, examples in help, output formats."""

from __future__ import annotations

import json
import sys

import click

from gan_sr.errors import ConfigError, GansrError


def examples(*lines: str) -> str:
    """An epilog for --help; '\\b' stops click from re-wrapping the example lines."""
    body = "\n".join(f"  {line}" for line in lines)
    return f"\b\nExamples:\n{body}"


PRINT_CONFIG = click.option(
    "--print-config", is_flag=True,
    help="Print the merged config (recipe < --config < flags) as TOML and exit without training; the output "
         "given back as --config is the same config.")


def echo_config(cfg: dict, schema: type, command: str) -> None:
    """The --print-config output: `cfg` as TOML under a comment naming the command that merged it."""
    from gan_sr.config import to_toml

    header = (f"{command} --print-config: the merged config (recipe < --config < flags).\n"
              f"Train with it: {command} --config THIS.toml (plus --data and any paths it needs).")
    click.echo(to_toml(cfg, schema, header), nl=False)


def refuse_with_resume(given: dict[str, object], applies: str) -> None:
    """--resume continues a run with its saved config: ConfigError naming the given options that would change it."""
    clash = [k for k, v in given.items() if v is not None]
    if clash:
        raise ConfigError(f"--resume continues a run with its saved config; drop {', '.join(clash)} "
                          f"(only {applies} apply)")


class ModelsHelp(click.Option):
    """An option whose help names the registered SR models when --help is shown, so a model added to the
    registry appears without editing the CLI: {models} (all), {learnable} and {stages} (model stages for
    `sr train`) in the help text are filled in from gan_sr.sr.registry."""

    def get_help_record(self, ctx: click.Context):
        from gan_sr.sr import registry

        stages: dict[str, list[str]] = {}
        for name, st in registry.training_stages().items():
            for stage in st:
                stages.setdefault(stage, []).append(name)
        template = self.help or ""
        self.help = template.format(
            models=", ".join(registry.model_names()),
            learnable=", ".join(registry.training_stages()),
            stages=", ".join(f"{k} ({', '.join(v)})" for k, v in stages.items()))
        try:
            return super().get_help_record(ctx)
        finally:
            self.help = template


class GansrGroup(click.Group):
    """A click group that turns a GansrError into one 'Error: ...' line and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GansrError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)


def echo_table(rows: list[dict], fmt: str, floatfmt: str = "{:.4f}") -> None:
    """Print rows of dicts as a Markdown table, CSV or JSON."""
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        return
    keys = list(rows[0].keys())

    def cell(v):
        return floatfmt.format(v) if isinstance(v, float) else str(v)

    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
        return
    click.echo("| " + " | ".join(keys) + " |")
    click.echo("|" + "|".join("---" for _ in keys) + "|")
    for r in rows:
        click.echo("| " + " | ".join(cell(r.get(k, "")) for k in keys) + " |")


FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True,
    help="Output format of the table.",
)
