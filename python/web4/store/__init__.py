"""SQLite persistence shared by every subsystem (trust, knowledge, LIP queue, ...).

Open one ``Store`` per node (``Store.in_data_dir(data_dir)``); each subsystem applies its
own ``MigrationSet`` with ``store.migrate(...)`` when it is constructed.
"""

from web4.store.group_commit import GroupCommit
from web4.store.migrations import Migration, MigrationSet
from web4.store.sqlite import DB_FILE_NAME, Store

__all__ = ["DB_FILE_NAME", "GroupCommit", "Migration", "MigrationSet", "Store"]
