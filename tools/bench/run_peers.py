#!/usr/bin/env python3
"""Runs a peers script (e.g. peers_torch.py) once per line of standard input in one
process, so torch and its kernels load once for a whole table instead of once per row.

  printf '%s\n' "prefill --hdim 128 --seqlen 4096" "prefill --hdim 64 --causal" |
      python3 run_peers.py peers_torch.py

Each line is the argument list of one call of the script's main(); its JSON lines go to
standard output as the script prints them. A failing row prints an error object and the
rest still run.
"""
import importlib.util
import json
import shlex
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    spec = importlib.util.spec_from_file_location("peers", sys.argv[1])
    peers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peers)
    for line in sys.stdin:
        args = shlex.split(line)
        if not args:
            continue
        sys.argv = [sys.argv[0]] + args
        try:
            peers.main()
        except (Exception, SystemExit) as e:  # one bad row must not lose the others
            print(json.dumps(dict(error=str(e)[:200], args=line.strip())), flush=True)


if __name__ == "__main__":
    main()
