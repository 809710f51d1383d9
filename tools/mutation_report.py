"""Report of a `make mutation` run (tools/mutation.sh): counts per module and every surviving mutant with its diff.

Reads mutmut's result files (WORK/mutants/**/*.py.meta) and the list of mutants judged equivalent
(tools/mutation_equivalent.txt: NAME reason); writes OUT/report.md and OUT/summary.json.
usage: python tools/mutation_report.py WORK EQUIVALENT_FILE OUT
"""
from __future__ import annotations

import datetime
import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 2: "interrupted", None: "not checked",
          24: "timeout", 36: "timeout", 152: "timeout", 255: "timeout", -24: "timeout", 33: "no tests", 34: "skipped",
          35: "suspicious", 37: "caught by type check", -11: "segfault", -9: "segfault"}


def status_of(code) -> str:
    """mutmut's own table when importable (same mutmut as the run), else the copy above."""
    try:
        from mutmut.stats import status_by_exit_code
        return status_by_exit_code[code]
    except ImportError:
        return STATUS.get(code, "suspicious")


def read_results(work: Path) -> dict[str, str]:
    results = {}
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text()).get("exit_code_by_key", {}).items():
            results[name] = status_of(code)
    return results


def read_equivalent(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.strip().partition(" ")
            out[name] = reason.strip()
    return out


def module_of(name: str) -> str:
    return name.split(".x_")[0].split(".xǁ")[0]


def diff_of(work: Path, name: str) -> str:
    res = subprocess.run(["mutmut", "show", name], cwd=work, capture_output=True, text=True)
    return "\n".join(line for line in res.stdout.splitlines() if line[:2] in ("- ", "+ ") or line[:1] in "-+"
                     and not line.startswith(("---", "+++")))


def main(work: Path, equivalent_file: Path, out: Path) -> dict:
    results, equivalent = read_results(work), read_equivalent(equivalent_file)
    per_module: dict[str, Counter] = defaultdict(Counter)
    for name, status in results.items():
        per_module[module_of(name)][status] += 1
    # a mutant of a function no focused test runs ("no tests") survives as surely as one the tests miss
    survivors = sorted(n for n, s in results.items() if s in ("survived", "no tests"))
    checked = sum(1 for s in results.values() if s not in ("not checked", "interrupted"))
    open_survivors = [n for n in survivors if n not in equivalent]
    summary = {"date": datetime.date.today().isoformat(), "mutants": len(results), "checked": checked,
               "killed": sum(1 for s in results.values() if s in ("killed", "timeout", "caught by type check")),
               "survived": len(survivors), "equivalent": len(survivors) - len(open_survivors),
               "survived_not_equivalent": len(open_survivors),
               "survival_rate": len(survivors) / checked if checked else None,
               "survival_rate_without_equivalent": len(open_survivors) / checked if checked else None,
               "per_module": {m: dict(c) for m, c in sorted(per_module.items())}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = [f"# Mutation testing report ({summary['date']}, mutmut)", "",
             f"{summary['mutants']} mutants, {checked} checked: {summary['killed']} killed, {len(survivors)} survived "
             "(counting those of functions no focused test runs) "
             f"({100 * (summary['survival_rate'] or 0):.1f} %), of which {summary['equivalent']} equivalent "
             f"(listed in tools/mutation_equivalent.txt); {len(open_survivors)} open "
             f"({100 * (summary['survival_rate_without_equivalent'] or 0):.1f} %).", "",
             "| module | " + " | ".join(sorted({s for c in per_module.values() for s in c})) + " |"]
    statuses = sorted({s for c in per_module.values() for s in c})
    lines.append("|---" * (len(statuses) + 1) + "|")
    for m, c in sorted(per_module.items()):
        lines.append(f"| {m} | " + " | ".join(str(c.get(s, 0)) for s in statuses) + " |")
    lines += ["", "## Surviving mutants", ""]
    for name in survivors:
        tag = f" (equivalent: {equivalent[name]})" if name in equivalent else ""
        tag += " (no focused test runs it)" if results[name] == "no tests" else ""
        lines += [f"### {name}{tag}", "```diff", diff_of(work, name), "```", ""]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:3 + len(per_module) + 3]))
    return summary


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
