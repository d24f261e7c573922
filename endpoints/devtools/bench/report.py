"""docs/benchmarks.md is written by several benchmarks: each replaces its own section only."""

from pathlib import Path

HEADER = "# Benchmarks\n\nEach section is rewritten by the benchmark named in it (`make bench` runs them all).\n"


def write_section(path: str | Path, title: str, text: str) -> None:
    """Put `text` (which starts with `## {title}`) in place of that section of `path`, or at
    its end; the other sections stay as they are."""
    path = Path(path)
    existing = path.read_text() if path.exists() else HEADER
    heading = f"## {title}"
    if heading in existing:
        start = existing.index(heading)
        rest = existing[start + len(heading) :]
        following = rest.find("\n## ")
        end = len(existing) if following < 0 else start + len(heading) + following + 1
        existing = existing[:start] + text.rstrip() + "\n\n" + existing[end:].lstrip("\n")
    else:
        existing = existing.rstrip() + "\n\n" + text.rstrip() + "\n"
    path.write_text(existing.rstrip() + "\n")
