"""The report stage: metrics, confusion matrices and the paper's tables from run
folders (command.py is the `report` command)."""
