"""Bytes <-> messages: parsing what arrives, composing and rendering what leaves, signing tokens.

Holds: parse (raw bytes -> Parsed), text, quotes (a reply's own words), forwarded (the original inside a
forward or a web form), language, compose (hand-built MIME), render (Jinja2 sandbox), tokens (HMAC).
May import: the standard library, mail-parser, Jinja2, and `mailrobot.config`.  Nothing about cases, the
database or the network.
"""
