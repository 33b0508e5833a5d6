"""Alembic's script directory for the Assay store: ``env.py`` and ``versions/``.

:mod:`engine.store.schema` runs them, configured in code (no ``alembic.ini``). To write a
revision, change the tables in :mod:`engine.store.database` and add a file to ``versions/``
whose ``down_revision`` is the current head (``alembic revision -m "..."`` from the
repository's root writes one from ``script.py.mako``, and ``--autogenerate`` fills it in
against a database at the head, given by ``ASSAY_DATABASE_URL``). ``tests/test_migrations.py``
fails while the tables and the revisions disagree.
"""
