"""A pipeline command run in-process, as the CLI would run it: found by its
name in the CLI's command table, so the demo names the commands it runs and
never imports a command module itself."""
import argparse
import importlib

from microattention import cli
from microattention.errors import UserError


def call(command, argv):
    """The command `command` (a name of cli.COMMANDS, e.g. "index") run
    in-process with the arguments argv; UserError when it fails."""
    module = importlib.import_module(cli.COMMANDS[command][0])
    parser = argparse.ArgumentParser(prog="python3 -m microattention " + module.__name__)
    module.add_arguments(parser)
    code = int(module.run(parser.parse_args([str(a) for a in argv])) or 0)
    if code:
        raise UserError("demo: %s %s ended with exit code %d"
                        % (module.__name__, " ".join(map(str, argv)), code))
