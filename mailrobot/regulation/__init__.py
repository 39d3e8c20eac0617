"""The pure decisions of regulation 4.3: what a mail is, what must happen, by when.

Holds: rules and classify (which kind of mail, named checks), trust (which case a token names), commands
(staff's #commands), routing (which group gets a case), decide (kind + facts -> effects), effects (the effect
types), deadlines and workdays (working-day arithmetic, Kazakhstan's calendar), staff (who is who),
caseview (the facts about a case that decisions read), states (named case states, message statuses, events).
May import: `mailrobot.mail`, `mailrobot.config` and the standard library; never SQLAlchemy, sockets,
threads or the clock (`now` is always passed in).
"""
