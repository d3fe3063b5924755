"""The data migration: the monolith's rows and objects, moved into the services' stores.

`snappy migrate` drives it (see `cli`). The pieces, in the order the data flows:

- `mapping`: which source table goes to which target database and table, declared once;
- `stores`: connections to the databases and the buckets, and the checks that they are ready;
- `checkpoints`: where each stream of work got to, kept in the target database it writes to;
- `backfill`: rows in primary-key chunks through COPY, then the photos' objects;
- `objects`: the objects decided from both buckets' listings, copied and proven equal;
- `sync`: the monolith's change log, applied to the targets until it is empty;
- `verify`: counts, chunked checksums, orphans and the object inventory, compared;
- `phases`: what must agree at the ownership phase the monolith's database records;
- `reverse`: the way back, a route group's data moved from its service into the monolith
  (`snappy cutover` to an earlier phase);
- `progress`: the progress line of long work.

Errors are `MigrationError`s (`errors`), one line each, that `cli` prints and maps to exit codes.
"""
