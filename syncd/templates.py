"""Draft templates: Jinja2 text files, the user's folder first, then the shipped ones.

A template's first line is ``Subject: ...``; the rest is the body. Templates run sandboxed
and an unknown variable is an error (a typo must not produce "Hi ,").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from syncd import paths


class TemplateError(Exception):
    """A template is missing or broken; ``str()`` names the file and the problem."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def _folders(user_dir: str) -> list[Path]:
    folders = [Path(user_dir).expanduser()] if user_dir else []
    return folders + [paths.defaults_dir() / "templates"]


@lru_cache(maxsize=8)
def _environment(user_dir: str) -> Any:
    """One Jinja environment per template folder (it caches compiled templates, and the daemon
    renders drafts for months)."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader([str(p) for p in _folders(user_dir)]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # plain-text mail, not HTML
        auto_reload=True,  # a template the user edits is picked up without a restart
    )


def render(name: str, variables: dict[str, Any], user_dir: str = "") -> Rendered:
    import jinja2

    env = _environment(user_dir)
    filename = f"{name}.txt"
    try:
        text = env.get_template(filename).render(**variables)
    except jinja2.TemplateNotFound:
        raise TemplateError(f"template {filename} not found in {', '.join(map(str, _folders(user_dir)))}") from None
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError(f"{err.filename or filename}, line {err.lineno}: {err.message}") from None
    except jinja2.UndefinedError as err:
        raise TemplateError(f"{filename}: {err.message}; available: {', '.join(sorted(variables))}") from None
    text = text.lstrip("\n")
    first, _, rest = text.partition("\n")
    m = re.match(r"(?i)subject:\s*(.*)", first)
    if not m:
        raise TemplateError(f"{filename}: the first line must be 'Subject: ...'")
    body = re.sub(r"\n{3,}", "\n\n", rest.strip("\n")) + "\n"
    return Rendered(subject=" ".join(m.group(1).split()), body=body)


def strip_reply_prefixes(subject: str) -> str:
    return re.sub(r"^(\s*(re|aw|sv|fwd?|wg)\s*(\[\d+\])?\s*:\s*)+", "", subject, flags=re.I).strip()
