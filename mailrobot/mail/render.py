"""Mail texts from Jinja2 templates, rendered in a sandbox.

Templates are edited by admins, so they run in `SandboxedEnvironment` (no attribute tricks into Python
internals) with `StrictUndefined` (a misspelt variable is an error, not a silently empty line in a mail to a
consumer).  A mail is up to three files, `<lang>/<name>.subject.j2`, `<lang>/<name>.txt.j2` and optionally
`<lang>/<name>.html.j2`; only the HTML part is autoescaped, because the text part and the subject must show
a consumer's `<` as `<`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from mailrobot.mail.samples import OPTIONAL_KEYS, mail_names, sample_context

__all__ = ["OPTIONAL_KEYS", "Rendered", "Renderer", "mail_names", "sample_context"]

if TYPE_CHECKING:
    from mailrobot.config import Settings

PARTS = ("subject", "txt", "html")
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_TEMPLATE_FILE = re.compile(r"(?P<lang>[a-z]{2,3})/(?P<name>[a-z][a-z0-9_]*)\.(?P<part>subject|txt|html)\.j2")
# Kazakh letters that Russian lacks: a Kazakh template without any of them is Russian by mistake.
KAZAKH_LETTERS = frozenset("әғқңөұүһіӘҒҚҢӨҰҮҺІ")


def default_templates_dir() -> Path:
    """The templates shipped with mailrobot.

    Installed from a wheel they are package data, `mailrobot/templates/` (pyproject.toml maps the
    repository's `templates/` there); in a checkout or an editable install, the repository's `templates/`.
    """
    package = Path(__file__).resolve().parents[1]  # mailrobot/
    packaged = package / "templates"
    return packaged if packaged.is_dir() else package.parent / "templates"


@dataclass(frozen=True, slots=True)
class Rendered:
    """One mail's texts: a one-line subject, the plain text, and the HTML alternative if there is one."""

    subject: str
    text: str
    html: str | None = None


class Renderer:
    """Renders the named mails of the robot in the consumer's language, falling back to the default one."""

    def __init__(
        self, templates_dir: Path | None = None, default_language: str = "ru", timezone: str = "Asia/Almaty"
    ) -> None:
        self.default_language = default_language
        self.zone = ZoneInfo(timezone)
        # The admin's directory first, then the shipped one: an admin overrides one file, not the whole set.
        search = [Path(templates_dir)] if templates_dir else []
        if search and not search[0].is_dir():
            # A typo in robot.templates_dir would otherwise silently send the shipped texts.
            raise ValueError(f"templates directory {search[0]} does not exist or is not a directory")
        shipped = default_templates_dir()
        if shipped not in search:
            search.append(shipped)
        self.search_path = tuple(search)
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader([str(p) for p in self.search_path], encoding="utf-8"),
            undefined=StrictUndefined,
            autoescape=_autoescape,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=True,  # admins edit templates in place; a daemon restart should not be needed
        )
        self._env.filters.update(
            date=self._format_date,
            datetime=self._format_datetime,
            shorten=shorten,
            plural=plural,
            nl2br=nl2br,
        )
        # Inside `batch()`: each template file looked up once (None: there is none).
        self._batch: dict[str, Template | None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Renderer:
        """The renderer the config describes ([robot] templates_dir, default_language, timezone)."""
        templates_dir = Path(settings.robot.templates_dir) if settings.robot.templates_dir else None
        return cls(templates_dir, settings.robot.default_language, settings.robot.timezone)

    @property
    def environment(self) -> SandboxedEnvironment:
        """The sandboxed Jinja2 environment (for tools and tests that render a string)."""
        return self._env

    def render(self, name: str, language: str, context: Mapping[str, Any]) -> Rendered:
        """Render mail `name` in `language`, or in the default language if `language` lacks it.

        Raises jinja2 errors on a broken template or a missing context variable: that is a bug to see, not a
        mail to send half-empty.
        """
        if not _NAME.fullmatch(name):
            raise ValueError(f"bad template name {name!r}")
        return self._render_in(self.resolve_language(name, language), name, context)

    def phrases(self, name: str, language: str | None) -> dict[str, str]:
        """The short texts of `<language>/<name>.toml` (e.g. command_results), in `language` if it has them,
        else the default language; a key in the admin's templates_dir overrides the shipped one."""
        wanted = _normalize_language(language) or self.default_language
        for lang in dict.fromkeys((wanted, self.default_language)):
            found: dict[str, str] = {}
            for directory in reversed(self.search_path):  # shipped first, the admin's over it
                path = directory / lang / f"{name}.toml"
                if path.is_file():
                    found |= {k: str(v) for k, v in tomllib.loads(path.read_text(encoding="utf-8")).items()}
            if found:
                return found
        raise TemplateNotFound(f"{self.default_language}/{name}.toml")

    def resolve_language(self, name: str, language: str | None) -> str:
        """The language `render` will use: `language` (``kk``, ``kk-KZ``, ``RU``…) if it has the mail."""
        wanted = _normalize_language(language)
        if (
            wanted
            and wanted != self.default_language
            and all(self._exists(f"{wanted}/{name}.{part}.j2") for part in ("subject", "txt"))
        ):
            return wanted
        return self.default_language

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Within it, each template is looked up once: with auto_reload, Jinja2 stats a template's file on
        every lookup, and a lookup of a part a mail lacks (its HTML) searches every directory; a batch of a
        thousand notices did that five times a notice.  A template edited during a batch is used from the
        next one."""
        outer, self._batch = self._batch, {} if self._batch is None else self._batch
        try:
            yield
        finally:
            self._batch = outer

    def _template(self, template: str) -> Template | None:
        """The template of that file name, None when there is none (looked up once inside `batch()`)."""
        cache = self._batch
        if cache is not None and template in cache:
            return cache[template]
        try:
            found: Template | None = self._env.get_template(template)
        except TemplateNotFound:
            found = None
        if cache is not None:
            cache[template] = found
        return found

    def _required(self, template: str) -> Template:
        found = self._template(template)
        if found is None:
            raise TemplateNotFound(template)
        return found

    def _render_in(self, language: str, name: str, context: Mapping[str, Any]) -> Rendered:
        subject_template = self._required(f"{language}/{name}.subject.j2")
        text_template = self._required(f"{language}/{name}.txt.j2")
        html_template = self._template(f"{language}/{name}.html.j2")
        # What Template.render gives each part, from one dict of the globals and the values for all of
        # them (render copies both into a new dict for each part: a quarter of a notice's render).  The
        # globals are the environment's: get_template is never given a template's own.
        values = {**subject_template.globals, **context, "lang": language}
        subject = _render(subject_template, values)
        text = _render(text_template, values)
        html = None if html_template is None else _render(html_template, values).strip() + "\n"
        # A subject is one header line: a newline from a template or a consumer's subject must not fold it.
        return Rendered(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html)

    def _exists(self, template: str) -> bool:
        return self._template(template) is not None

    # -- inventory ----------------------------------------------------------------------------------------

    def _files(self) -> list[str]:
        return self._env.list_templates(extensions=["j2"])

    def languages(self) -> list[str]:
        """Languages that have at least one template, the default one first."""
        found = {m["lang"] for f in self._files() if (m := _TEMPLATE_FILE.fullmatch(f))}
        return [self.default_language, *sorted(found - {self.default_language})]

    def template_names(self) -> list[str]:
        """Names of the mails found in any language."""
        return sorted({m["name"] for f in self._files() if (m := _TEMPLATE_FILE.fullmatch(f))})

    def check_templates(self) -> list[str]:
        """Render every mail in every language with sample values; return the problems (empty: all good).

        For `mailrobot doctor`: a broken template should be found by the admin, not by a consumer.
        """
        problems: list[str] = []
        files = self._files()
        if not files:
            return [f"no templates found in {', '.join(str(p) for p in self.search_path)}"]
        parts: dict[tuple[str, str], set[str]] = {}
        for file in files:
            match = _TEMPLATE_FILE.fullmatch(file)
            if match:
                parts.setdefault((match["lang"], match["name"]), set()).add(match["part"])
            elif not file.rsplit("/", 1)[-1].startswith("_"):
                problems.append(f"{file}: unexpected file name (want <lang>/<name>.subject|txt|html.j2)")
        languages = self.languages()
        for name in self.template_names():
            for language in languages:
                found = parts.get((language, name), set())
                where = f"{language}/{name}"
                if not found:
                    if language == self.default_language:
                        problems.append(f"{where}: missing in the default language")
                    continue
                missing = [p for p in ("subject", "txt") if p not in found]
                if missing:
                    problems.append(f"{where}: missing " + ", ".join(f"{where}.{p}.j2" for p in missing))
                    continue
                try:
                    rendered = self._render_in(language, name, sample_context(name))
                except Exception as exc:  # a report for the admin: every kind of template error counts
                    problems.append(f"{where}: {type(exc).__name__}: {exc}")
                    continue
                if not rendered.subject:
                    problems.append(f"{where}: the subject renders empty")
                if language == "kk" and not KAZAKH_LETTERS & set(rendered.text):
                    problems.append(f"{where}: the Kazakh text has no Kazakh letters (ә ғ қ ң ө ұ ү һ і)")
        return problems

    # -- filters ------------------------------------------------------------------------------------------

    def _local(self, value: datetime) -> datetime:
        # A naive datetime is an unknown moment; printing it as local time could shift a deadline by hours.
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"an aware datetime is required, got naive {value.isoformat()}")
        return value.astimezone(self.zone)

    def _format_date(self, value: date | datetime | None) -> str:
        """dd.mm.yyyy; a datetime is first moved to the renderer's time zone."""
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = self._local(value)
        # What strftime("%d.%m.%Y") gives (the year unpadded, as glibc's %Y), at a third of its cost: a
        # notice prints two dates in each of its two parts.
        return f"{value.day:02d}.{value.month:02d}.{value.year}"

    def _format_datetime(self, value: datetime | None) -> str:
        """dd.mm.yyyy HH:MM in the renderer's time zone."""
        if value is None:
            return ""
        return self._local(value).strftime("%d.%m.%Y %H:%M")


def _render(template: Template, values: dict[str, Any]) -> str:
    """`template.render(values)` with `values` taken as the context's parent as they are, not copied: the
    caller's dict holds the globals already, and nothing a template does writes to its parent."""
    context = template.new_context(values, shared=True)
    try:
        return template.environment.concat(template.root_render_func(context))  # type: ignore[attr-defined]
    except Exception:
        template.environment.handle_exception()  # raises it, its traceback in the template's lines


def _autoescape(template_name: str | None) -> bool:
    return template_name is not None and template_name.endswith(".html.j2")


def _normalize_language(language: str | None) -> str | None:
    """``kk-KZ`` / ``kk_KZ`` / ``KK`` -> ``kk``; anything that is not a language tag -> None."""
    if not language:
        return None
    primary = language.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary if _LANGUAGE.fullmatch(primary) else None


def shorten(value: Any, width: int = 80) -> str:
    """One line of at most `width` characters, cut at a word when one is near, with an ellipsis."""
    text = " ".join(str(value).split())
    if len(text) <= width:
        return text
    cut = text[: max(width - 1, 0)]
    space = cut.rfind(" ")
    if space >= width // 2:  # a word boundary in the second half: a cut word reads worse than a short line
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def nl2br(value: Any) -> Markup:
    """Escaped text with its line breaks kept as <br>, for HTML parts (Outlook ignores white-space: pre)."""
    lines = str(value).replace("\r\n", "\n").split("\n")
    return Markup("<br>\n").join(escape(line) for line in lines)


def plural(count: int, *forms: str) -> str:
    """The form of a noun for `count`: two forms (one, other) for English, three for Russian
    (one, few, many: 1 день, 2 дня, 5 дней).  Kazakh needs none: the noun after a number stays singular.
    """
    if len(forms) == 2:
        return forms[0] if abs(count) == 1 else forms[1]
    if len(forms) != 3:
        raise ValueError("plural takes two (English) or three (Russian) forms")
    n = abs(count)
    if n % 10 == 1 and n % 100 != 11:
        return forms[0]
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return forms[1]
    return forms[2]
