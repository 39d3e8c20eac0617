"""`mailrobot routes test FILE.eml`: what the daemon would decide for a mail, and why, without doing it.

It runs the daemon's own decision (Intake.decision: the same look-ups, classification and decide) on the
mail and shows how routing reads the registered case, so it cannot name another rule than the daemon.
"""

from __future__ import annotations

from datetime import datetime

from mailrobot.mail.parse import parse_message
from mailrobot.regulation.decide import RegisterCase, RouteCase, routing_mail
from mailrobot.regulation.routing import Routing
from mailrobot.service.intake import Intake


def explain_mail(intake: Intake, raw: bytes, now: datetime) -> list[str]:
    """The lines `routes test` prints: the verdict, the mail as routing sees it, every rule with whether
    it matches and why, and the group the case would go to.  Nothing is written to the database.

    Raises Unparseable for bytes that are no e-mail message (the daemon quarantines those)."""
    settings = intake.settings
    parsed = parse_message(raw, settings.robot.max_attachment_bytes)
    with intake.db.sessions() as session:
        try:
            verdict, effects = intake.decision(session, parsed, now, {})
        finally:
            session.rollback()
    lines = [f"verdict:    {verdict.kind}: {verdict.reason}"]
    register = next((e for e in effects if isinstance(e, RegisterCase)), None)
    if register is None:
        return [*lines, "result:     no new case, so no routing"]
    if register.forwarded_by:
        lines.append(f"forwarded in by {register.forwarded_by}: routed as the original's mail")
    mail = routing_mail(register, parsed)
    lines += [
        f"from:       {mail.sender}",
        f"to:         {', '.join(mail.recipients) or '-'}",
        f"subject:    {mail.subject}",
        f"language:   {mail.language}",
        "",
    ]
    routing = Routing.from_settings(settings)
    winner = None
    for index, (rule, matched, why) in enumerate(routing.explain(mail), 1):
        mark = "MATCH" if matched else "no"
        if matched and winner is None:
            winner, mark = rule, "MATCH (first: wins)"
        lines.append(f"{index:>2}. {rule.name} -> {rule.group}: {mark}: {why}")
    if not routing.rules:
        lines.append("(no [[routes]] configured)")
    route = next((e for e in effects if isinstance(e, RouteCase)), None)
    lines.append("")
    if route is None:
        lines.append("result:     registered, not forwarded (no route and no routing.copy_head)")
        return lines
    lines.append(f"result:     rule {route.rule} -> group {route.group or '-'} ({route.why})")
    group = routing.groups.get(route.group or "") if routing.groups else None
    if group is not None:
        lines.append(f"members:    {', '.join(group.members)} (assign {group.assign})")
    if route.ask:
        lines.append(f"asks:       {', '.join(route.ask)} (routes.ask: at once, in the operators' name)")
    if route.copy_head and settings.people.head:
        lines.append(f"copied to:  {', '.join(settings.people.head)} (routing.copy_head)")
    return lines
