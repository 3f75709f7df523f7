"""CI step: pip-audit over the installed dependencies; fails on any known vulnerability not explained.

Explained exceptions live in .ci/pip-audit-ignore (one `VULN-ID reason` per line). When the
vulnerability service cannot be reached (an offline CI machine), the step says so loudly and passes:
an audit that could not run is reported, never counted as clean.
"""

import json
import subprocess
import sys
from pathlib import Path

IGNORE_FILE = Path(__file__).with_name("pip-audit-ignore")


def explained() -> dict[str, str]:
    if not IGNORE_FILE.exists():
        return {}
    lines = [line.split(None, 1) for line in IGNORE_FILE.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return {parts[0]: parts[1] if len(parts) > 1 else "" for parts in lines}


def main() -> int:
    run = subprocess.run([sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off",
                          "--skip-editable"], check=False, capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"dependency audit: NOT RUN - vulnerability service unreachable ({last[:200]})")
        return 0
    deps = report.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    if deps and not audited:
        print(f"dependency audit: NOT RUN - none of {len(deps)} dependencies could be looked up "
              f"(vulnerability service unreachable from this machine)")
        return 0
    allowed = explained()
    found = [(d["name"], d["version"], v["id"], v.get("fix_versions", []))
             for d in audited for v in d.get("vulns", [])]
    unexplained = [f for f in found if f[2] not in allowed]
    for name, version, vuln, fixes in found:
        note = f"explained: {allowed[vuln]}" if vuln in allowed else "UNEXPLAINED"
        print(f"  {name} {version}: {vuln} (fixed in {', '.join(fixes) or '-'}) - {note}")
    print(f"dependency audit: {len(audited)} dependencies audited, {len(found)} known vulnerabilities, "
          f"{len(unexplained)} unexplained")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
