#!/usr/bin/env python3
"""Screenshots of the notebooks in a real JupyterLab (maintainer-only; not run by ``make test``).

Makes a throw-away workspace with the sample case's working notebooks (``torinvest notebook``),
starts ``jupyter lab`` on loopback with a random token, and drives Debian's headless Chromium
with playwright-core (``tools/lab_screenshots.cjs``): the investigation notebook is run, the
verdict is recorded with the form (twice: the ledger must hold one record), the triage notebook is
run and a finding's *Working notebook* button clicked, then its link followed. Writes
``docs/img/lab-verdict-form.png`` and ``docs/img/lab-triage.png``, and fails if any step does not
happen (no widget, nothing or twice recorded, no link, the link opens nothing).

Needs node and playwright-core, installed anywhere but the repository::

    npm install --prefix /tmp/pw playwright-core
    .venv/bin/python tools/lab_screenshots.py --playwright /tmp/pw/node_modules [--out docs/img]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from torinvest.case import sample_case

ROOT = Path(__file__).resolve().parents[1]
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
CHROMIUM = "/usr/bin/chromium"
#: Lab settings for a quiet, offline screen: no news or update checks.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torinvest(*args: str, env: dict[str, str]) -> str:
    exe = Path(sys.executable).with_name("torinvest")
    done = subprocess.run(
        [str(exe), *args], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.splitlines()[-1]


def wait_for_lab(url: str, token: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"jupyter lab exited with {proc.returncode}")
        try:
            req = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
                f"{url}/api/status", headers={"Authorization": f"token {token}"}
            )
            with urllib.request.urlopen(req, timeout=2) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise SystemExit("jupyter lab did not answer in time")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playwright", required=True, help="node_modules holding playwright-core")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--keep", action="store_true", help="keep the workspace (prints it)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="torinvest-lab-"))
    ws = work / "investigations"
    env = {
        **os.environ,
        "TORINVEST_ANALYST": "ana.lyst",
        "TORINVEST_LEDGER": str(work / "ledger.jsonl"),
        "JUPYTER_CONFIG_DIR": str(work / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(work / "jupyter-runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(work / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "lab-workspaces"),
    }
    for name, values in LAB_SETTINGS.items():
        path = work / "lab-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    case = str(sample_case().root)
    print(torinvest("notebook", FINDING, "--case", case, "--out", str(ws), env=env))
    print(torinvest("notebook", "--triage", "--case", case, "--out", str(ws), env=env))

    port, token = free_port(), secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}"
    lab = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("jupyter")),
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={ws}",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        env=env,
        cwd=ws,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "lab.log", "wb"),  # noqa: SIM115 - closed with the process
        start_new_session=True,
    )
    try:
        wait_for_lab(url, token, lab)
        args.out.mkdir(parents=True, exist_ok=True)
        profile = work / "chromium-profile"
        profile.mkdir()
        done = subprocess.run(
            [
                "node",
                str(ROOT / "tools" / "lab_screenshots.cjs"),
                json.dumps(
                    {
                        "url": url,
                        "token": token,
                        "finding": FINDING,
                        "out": str(args.out.resolve()),
                        "chromium": args.chromium,
                        "profile": str(profile),
                    }
                ),
            ],
            env={**env, "NODE_PATH": args.playwright},
            timeout=900,
            check=False,
        )
        ledger = (work / "ledger.jsonl").read_text() if (work / "ledger.jsonl").exists() else ""
        print(f"ledger: {len(ledger.splitlines())} record(s)")
        if done.returncode == 0 and len(ledger.splitlines()) != 1:
            print("the form recorded the same verdict twice, or not at all", file=sys.stderr)
            done.returncode = 1
        if done.returncode != 0:
            print(f"the browser run failed; Lab's log: {work / 'lab.log'}", file=sys.stderr)
            args.keep = True
        return done.returncode
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGTERM)
            try:
                lab.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(lab.pid, signal.SIGKILL)
        if args.keep:
            print(f"workspace kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
