"""Schema migrations (tortoise), run by ``cmp-server migrate`` and, on SQLite, at start.

On SQLite, tortoise's generic ``AlterField`` and ``RemoveField`` rebuild the table and drop the
old one with foreign keys on. Dropping a table other tables point at then fires their
``ON DELETE`` actions: altering ``site`` that way would delete every site's purposes, vendors,
inventory, versions and scans (and be refused by the receipts' RESTRICT); altering ``vendor`` or
``purpose`` would unlink every inventory item. Such a change needs SQLite's own procedure with
foreign keys off, outside a transaction: see 0006. 0004 shows the other way out, a custom
operation that changes only what it must.
"""
