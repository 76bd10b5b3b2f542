#!/usr/bin/env python3
"""Runs a command and samples /proc/PID/status every 20 ms; prints the peak anonymous
memory (RssAnon: heap and stacks, what the process allocates) and the peak file-backed
resident memory (RssFile: pages of the LMDB map and binaries the kernel keeps cached) in MiB,
as one JSON line on stderr. The command's own output passes through.

Usage: peak_memory.py COMMAND [ARGS...]
"""
import json
import subprocess
import sys
import time

proc = subprocess.Popen(sys.argv[1:])
peak = {"RssAnon": 0, "RssFile": 0, "VmHWM": 0}
while proc.poll() is None:
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in peak:
                    peak[key] = max(peak[key], int(value.split()[0]))
    except FileNotFoundError:
        break
    time.sleep(0.02)
print(json.dumps({"peak_anon_mib": round(peak["RssAnon"] / 1024, 1), "peak_file_mib": round(peak["RssFile"] / 1024, 1),
                  "peak_rss_mib": round(peak["VmHWM"] / 1024, 1)}), file=sys.stderr)
sys.exit(proc.returncode)
