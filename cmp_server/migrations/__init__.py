"""Schema migrations (tortoise), run by ``cmp-server migrate`` and, on SQLite, at start.

On SQLite, tortoise's generic ``AlterField`` and ``RemoveField`` rebuild the table and drop the
old one with foreign keys on. Dropping a table other tables point at then fires their
``ON DELETE`` actions: altering ``site`` that way would delete every site's purposes, vendors,
inventory, versions and scans (and be refused by the receipts' RESTRICT); altering ``vendor`` or
``purpose`` would unlink every inventory item. Such a change needs SQLite's own procedure with
foreign keys off, outside a transaction: see 0006. 0004 shows the other way out, a custom
operation that changes only what it must.

The numbers are names; the order is the chain of ``dependencies``, and since five were
written side by side it is not the numbers' after 0011: 0019 (webhooks), 0012 (revisions),
0013 (appearance), 0015 (two-factor, site limits), 0023 (the items' vendor order), 0017
(chains per site), 0018 (checkpoints), 0021 (scan schedules), 0022 (tree nodes), 0020 (API
tokens), 0024 (the inventory's tally). A new migration depends on the last of the chain,
and goes before the migrations
whose tests take a database back to an older schema and write it through today's services
(0017's test writes inventory items at 0015's schema).
"""
