"""A stage's command run in-process, as the CLI would run it."""
import argparse

from microattention.errors import UserError


def call(module, argv):
    """A stage command run in-process, as the CLI would run it."""
    parser = argparse.ArgumentParser(prog="python3 -m microattention " + module.__name__)
    module.add_arguments(parser)
    code = int(module.run(parser.parse_args([str(a) for a in argv])) or 0)
    if code:
        raise UserError("demo: %s %s ended with exit code %d"
                        % (module.__name__, " ".join(map(str, argv)), code))
