"""A fake `adb` executable for tests: phones are folders, benchmark_model replays real output.

The test writes a small launcher named `adb` (running this file with the test's Python) into a
temp dir put first on PATH. State comes from the JSON file in `$FAKE_ADB_CONFIG`:

    devices:   [[serial, state], ...]          what `adb devices` lists
    root:      folder; phone S's `/x/y` is `root/S/x/y`
    output:    file whose text benchmark_model prints (a real fixture)
    thermal:   statuses `dumpsys thermalservice` reports, one per call, the last repeats
    log:       every call is appended here as a JSON line (argv, and the parsed shell words)

Like a real phone, a shell command arrives as one string and is split the way `sh` splits it:
an unquoted `;` ends a command, so a wrongly quoted path shows up as a second command.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path


def _sh_words(cmd: str) -> list[list[str]]:
    """Split like sh: words, with unquoted `;`, `&&`, `|` separating commands."""
    lex = shlex.shlex(cmd, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    commands: list[list[str]] = [[]]
    for tok in lex:
        if tok in (";", "&&", "||", "|", "&"):
            commands.append([])
        else:
            commands[-1].append(tok)
    return [c for c in commands if c]


def main(argv: list[str]) -> int:
    cfg = json.loads(Path(os.environ["FAKE_ADB_CONFIG"]).read_text())
    root = Path(cfg["root"])
    log = Path(cfg["log"])
    devices = {s: st for s, st in cfg["devices"]}
    serial = None
    if argv[:1] == ["-s"]:
        serial, argv = argv[1], argv[2:]
    entry: dict = {"serial": serial, "argv": argv}
    try:
        if argv == ["devices"]:
            print("List of devices attached")
            for s, st in cfg["devices"]:
                print(f"{s}\t{st}")
            print()
            return 0
        if serial is None:
            ready = [s for s, st in devices.items() if st == "device"]
            if len(ready) != 1:
                print("adb: more than one device/emulator" if ready else
                      "adb: no devices/emulators found", file=sys.stderr)
                return 1
            serial = ready[0]
        if serial not in devices:
            print(f"adb: device '{serial}' not found", file=sys.stderr)
            return 1
        phone = root / serial
        if argv[0] == "push":
            dest = phone / argv[2].lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(argv[1], dest)
            print(f"{argv[1]}: 1 file pushed, 0 skipped.")
            return 0
        if argv[0] == "shell":
            commands = _sh_words(" ".join(argv[1:]))
            entry["commands"] = commands
            rc = 0
            for words in commands:
                rc = _shell(words, phone, cfg)
            return rc
        print(f"adb: unknown command {argv[0]}", file=sys.stderr)
        return 1
    finally:
        with log.open("a") as f:
            f.write(json.dumps(entry) + "\n")


def _shell(words: list[str], phone: Path, cfg: dict) -> int:
    if words[0] == "taskset":
        words = words[2:]
    cmd, args = words[0], words[1:]
    if cmd == "ls":
        ok = (phone / args[0].lstrip("/")).exists()
        print(args[0] if ok else f"ls: {args[0]}: No such file or directory")
        return 0 if ok else 1
    if cmd == "rm":
        for a in args:
            if not a.startswith("-"):
                (phone / a.lstrip("/")).unlink(missing_ok=True)
        return 0
    if cmd == "getprop":
        props = {"ro.product.model": "SM-G991B", "ro.build.version.release": "14",
                 "ro.board.platform": "lahaina"}
        print(props.get(args[0], ""))
        return 0
    if cmd == "dumpsys" and args == ["thermalservice"]:
        counter = Path(cfg["log"]).with_suffix(".thermal")
        n = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(n + 1))
        seq = cfg.get("thermal", [0])
        print("IsStatusOverride: false")
        print(f"Thermal Status: {seq[min(n, len(seq) - 1)]}")
        return 0
    if (phone / cmd.lstrip("/")).is_file() and cmd.endswith("benchmark_model"):
        graph = next((a.split("=", 1)[1] for a in args if a.startswith("--graph=")), "")
        if not (phone / graph.lstrip("/")).is_file():
            print(f"ERROR: Could not open '{graph}'.")
            return 1
        print(Path(cfg["output"]).read_text(), end="")
        return 0
    print(f"/system/bin/sh: {cmd}: not found", file=sys.stderr)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
