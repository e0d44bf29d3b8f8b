"""Training stages; each module is an `occtrack train <STAGE>` sub-command (see commands/train.py)."""
