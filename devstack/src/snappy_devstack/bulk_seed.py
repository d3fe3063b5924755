"""Many photos in the monolith's database, fast: rows generated in SQL inside the server.

The benchmarks seed 100,000 to 1,000,000 photos; through the app that would take hours,
here it takes seconds (`generate_series`). `seed_monolith_rows` writes N photos, about
N/20 users and N/2 shares whose contents look like the app's, with no object behind
them: the photos name `photos/<hex>` and `thumbnails/<hex>.jpg` keys that the caller
fills if it needs them.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

__all__ = ["SHARES_PER_PHOTO", "USERS_PER_PHOTO", "seed_monolith_rows"]

USERS_PER_PHOTO = 1 / 20
SHARES_PER_PHOTO = 1 / 2

# The seed runs inside the server, from generate_series: a million photos take seconds.
# Timestamps spread over about seven years; a photo's owner and a share's recipient are
# users who had signed up by then; ids have a few gaps where a generated share repeated one.
_SEED_USERS = """
INSERT INTO users (id, username, display_name, password_hash, created_at)
SELECT i,
       lower(first_name) || CASE WHEN i %% 3 = 0 THEN '_' || lower(last_name) ELSE '' END || '.' || i,
       first_name || ' ' || last_name,
       '$argon2id$v=19$m=65536,t=3,p=4$'
           || rtrim(encode(substr(sha256(convert_to('salt:' || i, 'UTF8')), 1, 16), 'base64'), '=')
           || '$' || rtrim(encode(sha256(convert_to('hash:' || i, 'UTF8')), 'base64'), '='),
       timestamptz '2020-01-01 00:00:00+00'
           + ((i - 1)::float8 / %(users)s) * interval '2500 days' + random() * interval '1 day'
FROM generate_series(1, %(users)s::bigint) AS i,
     LATERAL (
         SELECT (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Linus',
                       'Frances', 'Ken', 'Radia', 'Dennis', 'Katherine', 'Guido', 'Hedy', 'Niklaus',
                       'Sophie', 'Tim', 'Annie', 'Bjarne', 'Karen', 'John', 'Shafi', 'Leslie'])
                    [1 + (i * 7 %% 24)::int] AS first_name,
                (ARRAY['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Hamilton',
                       'Torvalds', 'Allen', 'Thompson', 'Perlman', 'Ritchie', 'Johnson', 'Rossum',
                       'Lamarr', 'Wirth', 'Wilson', 'Berners-Lee', 'Easley', 'Stroustrup', 'Jones',
                       'McCarthy', 'Goldwasser', 'Lamport'])[1 + ((i * 13 + i / 24) %% 24)::int] AS last_name
     ) AS names
"""

_SEED_PHOTOS = """
INSERT INTO photos (
    id, owner_id, caption, visibility, content_type, width, height, size_bytes,
    object_key, thumbnail_key, created_at
)
SELECT i,
       1 + floor(random() * ceil(%(users)s * i::float8 / %(photos)s))::bigint,
       CASE
           WHEN i %% 20 < 5 THEN ''
           WHEN i %% 20 < 17 THEN rtrim(substr(lorem, 1 + (i * 31 %% 400)::int, 6 + (i * 17 %% 90)::int))
           ELSE rtrim(substr(lorem, 1 + (i * 31 %% 400)::int, 90 + (i * 29 %% 900)::int))
       END,
       CASE WHEN random() < 0.35 THEN 'public' ELSE 'private' END,
       (ARRAY['image/jpeg', 'image/jpeg', 'image/jpeg', 'image/jpeg', 'image/png', 'image/webp'])
           [1 + (i * 11 %% 6)::int],
       (ARRAY[4032, 3024, 1920, 1080, 2048, 1600])[1 + (i %% 6)::int],
       (ARRAY[3024, 4032, 1080, 1920, 1536, 1200])[1 + (i %% 6)::int],
       150000 + floor(random() * 4850000)::bigint,
       'photos/' || md5('photo:' || i),
       'thumbnails/' || md5('photo:' || i) || '.jpg',
       timestamptz '2020-01-01 00:00:00+00'
           + ((i - 1)::float8 / %(photos)s) * interval '2500 days' + random() * interval '10 minutes'
FROM generate_series(1, %(photos)s::bigint) AS i,
     (SELECT repeat('Morning light over the harbour, the ferry leaving on time for once. '
                    || 'Grandma''s ninetieth birthday: the whole family, the cake, the candles. '
                    || 'First snow of the winter #snow #city. Trying the new lens on the old bridge. '
                    || 'Sunday market, tomatoes and too many cheeses. Summit at last, 2,950 m! '
                    || 'The cat refuses to leave the keyboard. Road trip day 3: still no map. '
                    || 'Concert in the park with friends; the sound was better than expected. '
                    || 'Rain again, so: museum. Late dinner at the corner place we always go to. ', 4)
         AS lorem) AS text
"""

_SEED_SHARES = """
INSERT INTO shares (id, photo_id, user_id, created_at)
SELECT j,
       photo_id,
       1 + floor(random() * ceil(%(users)s * j::float8 / %(shares)s))::bigint,
       timestamptz '2020-01-01 00:00:00+00'
           + ((photo_id - 1)::float8 / %(photos)s) * interval '2500 days' + random() * interval '30 days'
FROM (
    SELECT j, greatest(1, ceil(%(photos)s * j::float8 / %(shares)s)::bigint - floor(random() * 100)::bigint)
           AS photo_id
    FROM generate_series(1, %(shares)s::bigint) AS j
) AS generated
ON CONFLICT (photo_id, user_id) DO NOTHING
"""

_SEEDED_TABLES = ("users", "photos", "shares")


def seed_monolith_rows(database_url: str, *, photos: int, users: int, shares: int) -> dict[str, int]:
    """Fill the monolith's tables in SQL, empty its change log, and vacuum; return the rows per table.

    `database_url` is a monolith database with its schema migrated and no rows yet.
    """
    counts = {"users": users, "photos": photos, "shares": shares}
    with psycopg.connect(database_url, autocommit=True) as connection:
        with connection.transaction():
            # Seeding is not a change to capture: the triggers would only double the writes.
            for table in _SEEDED_TABLES:
                connection.execute(
                    sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(sql.Identifier(table))
                )
            connection.execute("SELECT setseed(0.42)")
            for statement in (_SEED_USERS, _SEED_PHOTOS, _SEED_SHARES):
                connection.execute(statement, counts)
            for table in _SEEDED_TABLES:
                connection.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({name}, 'id'), max(id)) FROM {table}"
                    ).format(name=sql.Literal(table), table=sql.Identifier(table))
                )
                connection.execute(
                    sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(sql.Identifier(table))
                )
            connection.execute("TRUNCATE change_log")
        # Hint bits set and statistics fresh, so every later reader reads the same, settled pages.
        connection.execute("VACUUM ANALYZE")
        seeded: dict[str, int] = {}
        for table in _SEEDED_TABLES:
            found = connection.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()
            seeded[table] = found[0] if found else 0
    return seeded
