"""``python -m revoke_check``: the same command line as ``revoke-check``."""
from .cli import main

main(prog_name="revoke-check")
