"""Long names (``imagefolder:/data/.../my_set``) broken over lines, never cut short."""

from __future__ import annotations

import re


def break_name(name: str, width: int, after: str = "/:") -> str:
    """``name`` as lines of at most ``width`` characters, broken after a character of ``after``
    where it can (a path keeps its components whole); a longer piece is folded."""
    if len(name) <= width:
        return name
    sep = re.escape(after)
    parts = re.findall(rf"[^{sep}]*[{sep}]|[^{sep}]+$", name)
    lines, line = [], ""
    for part in parts:
        if line and len(line) + len(part.rstrip(" ")) > width:
            lines.append(line.rstrip(" "))
            line = ""
        line += part
        while len(line.rstrip(" ")) > width:
            lines.append(line[:width])
            line = line[width:]
    if line.strip(" "):
        lines.append(line.rstrip(" "))
    return "\n".join(lines)
