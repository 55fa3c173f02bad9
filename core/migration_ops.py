"""Migration operations the project shares."""

from __future__ import annotations

from django.db.migrations.operations import AddIndex


class AddIndexConcurrently(AddIndex):
    """``AddIndex`` that builds the index without blocking writes on
    PostgreSQL (``CREATE INDEX CONCURRENTLY``: a big table stays writable
    while an upgrade builds it), and plainly elsewhere (the SQLite trial).

    The migration using it must be ``atomic = False``.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.remove_index(model, self.index, concurrently=True)
        else:
            schema_editor.remove_index(model, self.index)
