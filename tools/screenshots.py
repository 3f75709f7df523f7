"""Screenshots of the portal's main pages into docs/screenshots/, taken by the browser tests.

    python -m tools.screenshots            # runs tests/test_web_browser.py with ARX_SCREENSHOTS_DIR set
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    target = ROOT / "docs" / "screenshots"
    env = {**os.environ, "ARX_SCREENSHOTS_DIR": str(target), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/test_web_browser.py", "-q",
                           "-p", "no:cacheprovider"], cwd=ROOT, env=env, check=False)
    if done.returncode == 0:
        for shot in sorted(target.glob("*.png")):
            print(f"{shot.relative_to(ROOT)}  {shot.stat().st_size // 1024} KiB")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
