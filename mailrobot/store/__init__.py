"""Storage: the schema, the database, case numbers, and the look-ups that gather facts for decisions.

Holds: models (SQLAlchemy tables), db (engine, transactions, migrations), numbering, lookup (facts for
classify/decide), queue (the outbox as rows: queueing mail, listing and retrying it).
May import: `mailrobot.regulation`, `mailrobot.mail`, `mailrobot.config`, SQLAlchemy and Alembic.
"""
