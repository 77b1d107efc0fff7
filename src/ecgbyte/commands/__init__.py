"""One module per ``ecgbyte`` sub-command (see :mod:`ecgbyte.cli` for the protocol)."""
