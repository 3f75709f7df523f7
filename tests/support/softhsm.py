"""A throw-away SoftHSM2 token for the test run (a real PKCS#11 module, not a fake of our code).

SoftHSM reads SOFTHSM2_CONF when its module is first loaded, and a process loads it once: so one token
directory serves the whole test process, created on first use in a temporary directory and initialised
with `softhsm2-util --init-token` (Debian package `softhsm2`; `.ci/run` installs it when missing).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

MODULE_CANDIDATES = ("/usr/lib/softhsm/libsofthsm2.so",
                     "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                     "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
                     "/usr/local/lib/softhsm/libsofthsm2.so")


@dataclass(frozen=True)
class SoftHsm:
    conf: Path
    module: Path
    token_label: str
    pin: str
    so_pin: str

    def settings(self, key_label: str, **extra: str) -> dict[str, str]:
        """ARX_* environment selecting this token and key_label (and the SoftHSM configuration)."""
        return {"SOFTHSM2_CONF": str(self.conf), "ARX_KEYRING_SEAL": "pkcs11",
                "ARX_PKCS11_MODULE": str(self.module), "ARX_PKCS11_TOKEN_LABEL": self.token_label,
                "ARX_PKCS11_KEY_LABEL": key_label, "ARX_PKCS11_PIN": self.pin, **extra}


def empty_softhsm_conf(root: Path) -> Path:
    """A SoftHSM configuration whose token directory holds no token (an HSM that is not there)."""
    (root / "tokens").mkdir(parents=True, exist_ok=True)
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    return conf


@lru_cache(maxsize=1)
def softhsm() -> SoftHsm:
    util = shutil.which("softhsm2-util")
    module = next((Path(p) for p in MODULE_CANDIDATES if Path(p).is_file()), None)
    if util is None or module is None:
        raise RuntimeError("SoftHSM2 is not installed: apt-get install -y softhsm2 (.ci/run does)")
    root = Path(tempfile.mkdtemp(prefix="arx-softhsm-"))
    atexit.register(shutil.rmtree, root, True)
    conf = empty_softhsm_conf(root)
    token = SoftHsm(conf=conf, module=module, token_label=f"arx-test-{uuid.uuid4().hex[:8]}",
                    pin=uuid.uuid4().hex[:12], so_pin=uuid.uuid4().hex[:12])
    subprocess.run([util, "--init-token", "--free", "--label", token.token_label, "--pin", token.pin,
                    "--so-pin", token.so_pin], check=True, capture_output=True,
                   env={**os.environ, "SOFTHSM2_CONF": str(conf)})
    # This process loads the module with this configuration (subprocesses get it in their environment).
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return token
