"""A lower stage's command run in-process, as the CLI would run it: the demo
drives the pipeline through the same commands a user types."""
import argparse

from microattention.errors import UserError


def call(command, argv):
    """The command module `command` (add_arguments, run) run in-process with
    the arguments argv; UserError when it fails."""
    parser = argparse.ArgumentParser(prog="python3 -m microattention " + command.__name__)
    command.add_arguments(parser)
    code = int(command.run(parser.parse_args([str(a) for a in argv])) or 0)
    if code:
        raise UserError("demo: %s %s ended with exit code %d"
                        % (command.__name__, " ".join(map(str, argv)), code))
