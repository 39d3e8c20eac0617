"""Mail texts from Jinja2 templates, rendered in a sandbox.

Templates are edited by admins, so they run in `SandboxedEnvironment` (no attribute tricks into Python
internals) with `StrictUndefined` (a misspelt variable is an error, not a silently empty line in a mail to a
consumer).  A mail is up to three files, `<lang>/<name>.subject.j2`, `<lang>/<name>.txt.j2` and optionally
`<lang>/<name>.html.j2`; only the HTML part is autoescaped, because the text part and the subject must show
a consumer's `<` as `<`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

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

    def _render_in(self, language: str, name: str, context: Mapping[str, Any]) -> Rendered:
        values = {**context, "lang": language}
        subject = self._env.get_template(f"{language}/{name}.subject.j2").render(values)
        text = self._env.get_template(f"{language}/{name}.txt.j2").render(values)
        try:
            html_template = self._env.get_template(f"{language}/{name}.html.j2")
        except TemplateNotFound:
            html = None
        else:
            html = html_template.render(values).strip() + "\n"
        # A subject is one header line: a newline from a template or a consumer's subject must not fold it.
        return Rendered(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html)

    def _exists(self, template: str) -> bool:
        try:
            self._env.get_template(template)
        except TemplateNotFound:
            return False
        return True

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
        return value.strftime("%d.%m.%Y")

    def _format_datetime(self, value: datetime | None) -> str:
        """dd.mm.yyyy HH:MM in the renderer's time zone."""
        if value is None:
            return ""
        return self._local(value).strftime("%d.%m.%Y %H:%M")


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


# -- sample values: the contract of each mail's context -----------------------------------------------------

_RECEIVED = datetime(2026, 3, 19, 23, 30, tzinfo=UTC)  # 20.03.2026 04:30 in Almaty
_DUE = datetime(2026, 3, 30, 13, 0, tzinfo=UTC)  # 30.03.2026 18:00 in Almaty


def _sample_cases() -> list[dict[str, Any]]:
    return [
        # interim: an interim message went to the consumer (#interim); the final answer is still due.
        {"number": "SKES-2026-000123", "subject": "Перерасчёт за электроэнергию", "assignee": "Иванова А.",
         "due_at": _DUE, "interim": True},
        {"number": "SKES-2026-000124", "subject": "", "assignee": "", "due_at": _DUE + timedelta(days=1),
         "interim": False},
    ]


_STAFF_CASE: dict[str, Any] = {
    "case_number": "SKES-2026-000123",
    "requester": "consumer@example.kz",
    "requester_name": "Айгүл Серікқызы",
    "subject": "Перерасчёт за электроэнергию",
    "body": "Прошу сделать перерасчёт за март.\nЛицевой счёт 123456.",
    "due_at": _DUE,
    "commands_help": "Ответьте на это письмо, чтобы ответить потребителю.",
}

_SAMPLES: dict[str, dict[str, Any]] = {
    "notice": {
        "case_number": "SKES-2026-000123",
        "received_at": _RECEIVED,
        "due_at": _DUE,
        "requester_name": "Айгүл Серікқызы",
        "subject": "Перерасчёт за электроэнергию",
        "company_name": "ТОО «Севказэнергосбыт»",
        "answer_days": 3,
    },
    "answer": {
        "case_number": "SKES-2026-000123",
        "answer_text": "Здравствуйте!\n\nПерерасчёт выполнен.\n\nС уважением,\nоператор Иванова А.",
        "company_name": "ТОО «Севказэнергосбыт»",
        "requester_name": "",  # optional
        "subject": "",  # optional: the consumer's subject
    },
    "extension": {
        "case_number": "SKES-2026-000123",
        "new_due_at": datetime(2026, 4, 14, 13, 0, tzinfo=UTC),
        "reason": "требуется информация от АО «СКРЭК»",
        "company_name": "ТОО «Севказэнергосбыт»",
        "requester_name": "",  # optional
        "extended_days": 14,  # optional, 14 by default
    },
    # A case as staff get it: the fields every staff mail has, the consumer's other open cases, and up to
    # three earlier answered cases most like it (redacted summaries: jobs.similar).
    "forward": {
        **_STAFF_CASE,
        "forwarded_by": "buhgalter@skes.example.kz",  # optional: the employee who forwarded the mail in
        # optional: attachments over robot.max_attachment_bytes, not kept
        "files_not_kept": [{"name": "Видео счётчика.mp4", "size": 52_428_800, "limit": 10_485_760}],
        "open_cases": [{"number": "SKES-2026-000101", "assignee": "operator@skes.example.kz"}],
        "similar": [
            {"number": "SKES-2026-000087", "question": "Прошу сделать перерасчёт за февраль.",
             "answer": "Перерасчёт выполнен, сумма будет в квитанции за март."},
        ],
    },
    "interim": {
        "case_number": "SKES-2026-000123",
        "answer_text": "Здравствуйте! Запросили данные у АО «СКРЭК», ответим после их получения.",
        "company_name": "ТОО «Севказэнергосбыт»",
        "due_at": _DUE,  # the deadline still running
        "requester_name": "",  # optional
        "subject": "",  # optional: the consumer's subject
    },
    "answer_held": {
        "case_number": "SKES-2026-000123",
        "assignee": "operator@skes.example.kz",  # who answers for the case
        "held_text": "Перерасчёт будет сделан в апреле.",
        "sent_text": "Перерасчёт выполнен, сумма будет в квитанции за март.",  # "" when none was sent yet
        "sent_at": _RECEIVED,  # None when none was sent yet
    },
    "reminder": {
        "cases": _sample_cases(),
        "operator_name": "",  # optional
    },
    "overdue": {
        "case_number": "SKES-2026-000123",
        "assignee": "Иванова А.",
        "due_at": _DUE,
        "late_by": 2,  # whole working days past the deadline (0: it passed today); a string is shown as is
    },
    "digest": {
        "date": date(2026, 3, 30),
        "open": _sample_cases(),
        "due_today": _sample_cases()[:1],
        "overdue": [],
        # The lists may be cut short in a large contact center; the counts are always complete.
        "counts": {"open": 3, "due_today": 1, "overdue": 0},
        "by_operator": {"Иванова А.": 2, "Петров Б.": 1, "": 1},  # "": nobody assigned
        "by_organization": {"ТОО «Севказэнергосбыт»": 2, "": 1},  # "": not routed yet
        "quarantined": {"new": 1, "total": 3},  # since the previous digest / waiting for an admin
        "spam": 4,  # mail filed as spam since the previous digest (no notice, no forward)
        # Where notices were stopped by a cap since the previous digest (cases still registered): an
        # address without its +tag, or "@domain" for robot.notices_per_domain_per_hour; the most first.
        "notices_stopped": [
            {"to": "helpdesk@vendor.example", "count": 38},
            {"to": "@vendor.example", "count": 5},
        ],
        # Mail the SMTP server refused for good (the list may be cut short; the total is complete).
        "failed": {
            "total": 1,
            "mails": [
                {"case": "SKES-2026-000123", "kind": "answer", "recipient": "consumer@example.kz",
                 "error": "RCPT TO: 550 5.1.1 mailbox unavailable"},
            ],
        },
    },
    "delivery_failed": {
        "case_number": "SKES-2026-000123",
        "outbox_id": 42,
        "mail_kind": "answer",  # notice | answer | extension | forward | ask | ...
        "recipient": "consumer@example.kz",
        "created_at": _RECEIVED,
        "error": "RCPT TO: 550 5.1.1 mailbox unavailable",
    },
    "monthly_report": {
        "month": date(2026, 10, 1),
        "company_name": "ТОО «Севказэнергосбыт»",
        "totals": {
            "received": 30,
            "answered": 26,
            "on_time": 24,
            "late": 3,
            "pending": 1,
            "extended_late": 1,  # extended after the deadline: counted in "late" (4.3.9)
            "reopened": 2,  # opened again by a follow-up or #reopen
            "interim": 4,  # got an interim message (#interim), which is not an answer
            "on_time_rate": 89,  # percent, None when no case has a known outcome
            "median_hours": 26.5,  # None when nothing was answered
            "median_working_days": 1,
        },
        "status_widths": {"on_time": 86, "late": 11, "pending": 3},  # percent of the bar
        "by_category": [
            {"label": "оплата", "count": 12, "share": 40, "width": 100},
            {"label": "", "count": 18, "share": 60, "width": 67},  # "": no category
        ],
        "by_organization": [{"label": "ТОО «Севказэнергосбыт»", "count": 30, "share": 100, "width": 100}],
        "top_questions": [
            {"rank": 1, "count": 7, "share": 23, "width": 100,
             "question": "В квитанции за октябрь неверные показания счётчика.",
             "answer": "Показания исправлены, перерасчёт будет в ноябрьской квитанции.",
             "case_numbers": ["SKES-2026-000123", "SKES-2026-000124"]},
            {"rank": 2, "count": 3, "share": 10, "width": 43, "question": "Нет света третий день.",
             "answer": "", "case_numbers": ["SKES-2026-000125"]},  # "": no answer found
        ],
        "late_cases": [
            {"number": "SKES-2026-000126", "subject": "Перерасчёт", "assignee": "", "due_at": _DUE,
             "answered_at": None, "late_by": 2, "extended_late": True},
        ],
        "late_total": 3,
        "faq_title": "Черновик раздела «Вопросы и ответы» за октябрь 2026 г.",
        # The head's part (regulation.publish): how to publish, and the FAQ text between marker lines.
        "faq_text": "Вопрос 1. В квитанции неверные показания.\nОтвет: Показания исправлены.",
        "publish_note": "----- #publish -----",
        "faq_begin": "=====FAQ BEGIN=====",
        "faq_end": "=====FAQ END=====",
    },
    # One sender's flood of cases, once an hour, instead of a forward each (forwards_per_sender_per_hour).
    "forward_summary": {
        "sender": "robot@vendor.example",
        "count": 21,  # the sender's cases in the last hour, this one included
        "limit": 20,
        "case_numbers": ["SKES-2026-000101", "SKES-2026-000121"],
    },
    "command_reply": {
        "case_number": "SKES-2026-000123",
        "command": "#extend, #note",  # every command of the mail, each once
        "ok": False,  # all of them done
        "detail": "Новый срок ответа: 14.04.2026.\nПосле команды нужен текст.",
        # Each command's result, in order (one mail confirms every command of one staff mail).
        "results": [
            {"command": "#extend", "ok": True, "detail": "Новый срок ответа: 14.04.2026."},
            {"command": "#note", "ok": False, "detail": "После команды нужен текст."},
        ],
    },
    # Mail to staff about a case (routing, casework.py): the case's fields plus each mail's own.
    "ask": {
        **_STAFF_CASE,
        "question": "Был ли плановый ремонт сетей на ул. Абая 12 ноября?",
        "asked_by": "operator@skes.example.kz",
        "organization": "АО «СКРЭК»",
    },
    "specialist_answer": {
        **_STAFF_CASE,
        "specialist": "engineer@grid.example.kz",
        "organization": "АО «СКРЭК»",
        "answer_text": "Да, 12.11 с 10:00 до 16:00 по графику ремонта.",
    },
    # reopened: this follow-up reopened an answered or closed case (due_at is its new deadline).
    "followup": {**_STAFF_CASE, "followup_text": "Прилагаю фото квитанции.", "reopened": True},
    "extension_request": {
        **_STAFF_CASE,
        "operator": "operator@skes.example.kz",
        "reason": "требуется информация от АО «СКРЭК»",
        "new_due_at": datetime(2026, 4, 14, 13, 0, tzinfo=UTC),
        "extended_days": 14,
    },
    "refused": {
        "case_number": "SKES-2026-000123",  # "" when the mail named no case
        "sender": "someone@example.com",
        "subject": "Re: [SKES-2026-000123] Новое обращение",
        "reason": "signed-reply: token for SKES-2026-000123 used by someone@example.com, not a participant",
        "message_id": "abc@example.com",
        "excerpt": "#close",
        # The hour's summary: refused mail keeps coming, later refusals this hour are not reported one by one.
        "limited": False,
        "refused_last_hour": 0,
    },
}

# Keys a caller may leave out (the templates use `default`); the rest of each sample is required.
OPTIONAL_KEYS: dict[str, frozenset[str]] = {
    "answer": frozenset({"requester_name", "subject"}),
    "interim": frozenset({"requester_name", "subject"}),
    "forward": frozenset({"open_cases", "similar", "forwarded_by", "files_not_kept"}),
    "extension": frozenset({"requester_name", "extended_days"}),
    "reminder": frozenset({"operator_name"}),
}


def sample_context(name: str) -> dict[str, Any]:
    """Sample values for mail `name`, every key its templates may use; for an unknown (admin's own) mail,
    the values of all mails together."""
    if name in _SAMPLES:
        return dict(_SAMPLES[name])
    merged: dict[str, Any] = {}
    for values in _SAMPLES.values():
        merged.update(values)
    return merged


def mail_names() -> tuple[str, ...]:
    """The mails the robot sends."""
    return tuple(_SAMPLES)
