"""What scripts/price-crosscheck and scripts/price-gaps share: the pinned price sources and SDKs, and catalog reading.

The tools are cached under $TALLY_PRICE_TOOLS (default $TMPDIR/tally-price-tools, /tmp when TMPDIR is unset),
outside the work tree, so a fresh clone on the same machine (CI's) reuses them: a warm run needs no network, and
a cold one installs exactly the pinned versions. Nothing here touches the e2e suite's .venv.
"""
import datetime as dt
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "prices" / "catalog.json"
REQUIREMENTS = REPO / "prices" / "price-tools-requirements.txt"
TOOLS = Path(os.environ.get("TALLY_PRICE_TOOLS") or Path(os.environ.get("TMPDIR") or "/tmp") / "tally-price-tools")

# Pinned so that a run's verdict changes only when someone moves a pin (and the known differences with it).
GENAI_PRICES_VERSION = "0.2.3"  # installed from REQUIREMENTS, which must name the same version
LITELLM_VERSION = "1.110.2"
SDK_VERSIONS = {"openai": "3.60.0", "anthropic": "2.16.0", "google-genai": "3.6.1"}


def fail(tool, msg):
    print(f"{tool}: {msg}", file=sys.stderr)
    sys.exit(2)


def tools_python(tool):
    """A venv with REQUIREMENTS installed; rebuilt only when that file changes (its hash names the venv)."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    home = TOOLS / f"venv-{digest}"
    python = home / "bin" / "python"
    done = home / ".installed"
    if not done.exists():
        print(f"== installing {REQUIREMENTS.relative_to(REPO)} into {home}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
        cmd = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "-r", REQUIREMENTS]
        if subprocess.run(cmd).returncode != 0:
            fail(tool, f"pip install -r {REQUIREMENTS} failed")
        done.write_text(digest + "\n")
    return python


def pinned_wheel(tool, package, version):
    """The path of package==version's wheel, downloaded once (no dependencies, nothing installed or run)."""
    wheels = TOOLS / "wheels"
    prefix = f"{package.replace('-', '_')}-{version}-"
    found = sorted(wheels.glob(prefix + "*.whl")) if wheels.exists() else []
    if not found:
        wheels.mkdir(parents=True, exist_ok=True)
        cmd = [tools_python(tool), "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--only-binary=:all:", "--dest", wheels, f"{package}=={version}"]
        print(f"== pip download --no-deps {package}=={version} into {wheels}", file=sys.stderr)
        if subprocess.run(cmd).returncode != 0:
            fail(tool, f"pip download {package}=={version} failed")
        found = sorted(wheels.glob(prefix + "*.whl"))
        if not found:
            fail(tool, f"pip downloaded no wheel named {prefix}*.whl")
    return found[0]


# ---------------------------------------------------------------- the catalog


def day(s):
    return dt.date.fromisoformat(s)


def in_force(entry, on):
    return day(entry["from"]) <= on and (entry.get("to") is None or on < day(entry["to"]))


def alias_names(entry, on=None):
    """An entry's aliases: plain names, and `{"name", "from"?, "to"?}` objects (valid on those UTC days only,
    from inclusive, to exclusive). With `on`, only the aliases valid on that day."""
    out = []
    for a in entry.get("aliases") or []:
        if isinstance(a, str):
            out.append(a)
        elif on is None or ((a.get("from") is None or day(a["from"]) <= on) and (a.get("to") is None or on < day(a["to"]))):
            out.append(a["name"])
    return out


def alias_span(entry, alias):
    """The UTC days [start, end) on which an alias names the entry: its own days within the entry's."""
    start, end = day(entry["from"]), day(entry["to"]) if entry.get("to") else dt.date.max
    if isinstance(alias, dict):
        start = max(start, day(alias["from"])) if alias.get("from") else start
        end = min(end, day(alias["to"])) if alias.get("to") else end
    return start, end
