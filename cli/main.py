"""The `nbengine` command: one Click group, a subgroup per verb, a command per model."""
import click
@click.group()
def main():
    pass
