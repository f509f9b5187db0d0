"""The reproduce stage: the paper's tables from the user's own databases, one
command (command.py) driving the lower stages' commands as subprocesses."""
