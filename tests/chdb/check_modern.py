#!/usr/bin/env python3
"""Replay every statement eastwest issued on ClickHouse 18.16 through chdb.

The test run starts Debian's ClickHouse 18.16 with query logging on. After
the Rust tests have run the collector and the dashboard against it, this
script reads back, from system.query_log, every statement the project's own
client (User-Agent clickhouse-rs) issued and that 18.16 accepted, and runs
each of them in chdb — the current ClickHouse, in process. A statement a
modern server rejects fails the run.

* DDL and SELECTs run as they were issued (bound values are already in the
  text: the project binds on the client side), grouped by kind (the log's
  order is only to the second); the databases where an upgrade rebuilt a
  table (a RENAME) are replayed first, in the log's own order.
* `INSERT ... FORMAT RowBinary` / `FORMAT Native` carries its rows in the
  request body, which the log does not keep: the rows 18.16 stored are read
  back in the same format and loaded on the current server through that
  format's reader, with the same column list. The clickhouse crate
  leaves the database out of INSERTs (it is a request setting), so such an
  INSERT is checked against every table of that name the run created.

Usage: check_modern.py --url http://127.0.0.1:PORT
"""

import argparse
import os
import re
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import chdb.session


def ch_bytes(url: str, sql: str) -> bytes:
    req = urllib.request.Request(url, data=sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.read()


def ch(url: str, sql: str) -> str:
    return ch_bytes(url, sql).decode()


INSERT_RE = re.compile(
    r"^\s*INSERT\s+INTO\s+(?P<table>[`\w.]+)\s*\((?P<cols>[^)]*)\)\s*FORMAT\s+(?P<format>RowBinary|Native)\s*$",
    re.IGNORECASE | re.DOTALL,
)
RENAME_RE = re.compile(r"^\s*RENAME\s+TABLE\s+`?(\w+)`?\.", re.IGNORECASE)
CREATE_TABLE_RE = re.compile(
    r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<qualified>[`\w]+\.(?P<name>[`\w]+))",
    re.IGNORECASE,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="HTTP URL of the 18.16 test server")
    args = ap.parse_args()

    # The query log is flushed every second (scripts/clickhouse/config.xml.in).
    time.sleep(2)
    rows = ch(
        args.url,
        "SELECT query FROM system.query_log "
        "WHERE type = 2 AND http_user_agent LIKE 'clickhouse-rs%' "
        "ORDER BY event_time, query_start_time FORMAT JSONEachRow",
    )
    import json

    seen = set()
    statements = []
    for line in rows.splitlines():
        q = json.loads(line)["query"].strip()
        if q and q not in seen:
            seen.add(q)
            statements.append(q)
    if not statements:
        print("chdb check: no statements from eastwest in the 18.16 query log", file=sys.stderr)
        return 1

    sess = chdb.session.Session()
    version = sess.query("SELECT version()", "CSV").bytes().decode().strip()

    # The log's order is only to the second, and tests run side by side, so
    # replay by kind: databases, then tables and views (retrying those whose
    # dependencies come later), then inserts, reads, and drops last.
    def kind(q: str) -> str:
        words = q.split(None, 2)
        first = words[0].upper()
        second = words[1].upper() if len(words) > 1 else ""
        if INSERT_RE.match(q):
            return "insert"
        if first == "CREATE" and second == "DATABASE":
            return "database"
        if first in ("CREATE", "ALTER", "RENAME"):
            return "ddl"
        if first in ("DROP", "TRUNCATE"):
            return "drop"
        if first in ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS"):
            return "select"
        return "other"

    # An upgrade that rebuilds a table (copies it, then a RENAME swaps the
    # copy in) only makes sense in its own order. The databases where one
    # ran are replayed first, statement by statement in the log's order:
    # read in storage order (one thread, no sort), which keeps the order of
    # the statements logged within one second.
    physical = []
    for line in ch(
        args.url.rstrip("/") + "/?max_threads=1",
        "SELECT query FROM system.query_log "
        "WHERE type = 2 AND http_user_agent LIKE 'clickhouse-rs%' FORMAT JSONEachRow",
    ).splitlines():
        q = json.loads(line)["query"].strip()
        if q and q not in physical:
            physical.append(q)
    rebuilt = {
        m.group(1)
        for q in statements
        for m in [RENAME_RE.match(q)]
        if m
    }

    def in_rebuilt(q: str) -> bool:
        return any(f"`{db}`" in q or f"'{db}'" in q or f" {db}." in q for db in rebuilt)

    in_order = [q for q in physical if in_rebuilt(q)]
    ordered = set(in_order)

    order = ["database", "ddl", "insert", "select", "other", "drop"]
    by_kind = {k: [q for q in statements if kind(q) == k and q not in ordered] for k in order}
    failures = []

    # The clickhouse crate names the INSERT table without its database (the
    # database travels as a request setting): check such an INSERT against
    # the table of that name in every database the run created.
    created = {}
    for q in by_kind["ddl"] + in_order:
        t = CREATE_TABLE_RE.match(q)
        if t:
            created.setdefault(t.group("name").strip("`"), []).append(t.group("qualified"))

    def run(q: str) -> None:
        m = INSERT_RE.match(q)
        if m and "." not in m.group("table"):
            name = m.group("table").strip("`")
            targets = created.get(name, [])
            if not targets:
                raise RuntimeError(f"no CREATE TABLE for `{name}` in the log")
            for qualified in targets:
                run(f"INSERT INTO {qualified} ({m.group('cols')}) FORMAT {m.group('format')}")
            return
        if m:
            # The rows 18.16 holds, in the format the collector sent
            # (RowBinary, or Native with LowCardinality columns in their
            # dictionary encoding), loaded on the current server through
            # that format's reader.
            table, cols, fmt = m.group("table"), m.group("cols"), m.group("format")
            try:
                desc = ch(args.url, f"SELECT name, type FROM system.columns WHERE "
                          f"database = '{table.split('.')[0].strip('`')}' AND "
                          f"table = '{table.split('.')[1].strip('`')}' FORMAT TSV")
                structure = ", ".join(
                    f"`{n}` {t}" for n, t in (line.split("\t") for line in desc.splitlines())
                )
                data = ch_bytes(args.url, f"SELECT {cols} FROM {table} LIMIT 100 FORMAT {fmt}")
            except OSError:
                structure, data = "", b""  # the table is gone from 18.16
            if structure and data:
                with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
                    f.write(data)
                try:
                    sess.query(
                        f"INSERT INTO {table} ({cols}) SELECT {cols} "
                        f"FROM file('{f.name}', '{fmt}', '{structure}')"
                    )
                finally:
                    os.unlink(f.name)
            else:
                # No rows left on 18.16: still check the column list.
                sess.query(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {table} LIMIT 0")
        else:
            sess.query(q, "Null")

    for q in in_order:
        try:
            run(q)
        except Exception as e:
            failures.append((q, str(e)))
    for q in by_kind["database"]:
        try:
            run(q)
        except Exception as e:
            failures.append((q, str(e)))
    pending = by_kind["ddl"]
    while pending:
        retry = []
        for q in pending:
            try:
                run(q)
            except Exception as e:
                retry.append((q, e))
        if len(retry) == len(pending):
            failures.extend((q, str(e)) for q, e in retry)
            break
        pending = [q for q, _ in retry]
    for k in order:
        if k in ("database", "ddl"):
            continue
        for q in by_kind[k]:
            try:
                run(q)
            except Exception as e:  # chdb raises RuntimeError with the server's message
                failures.append((q, str(e)))
    kinds = {k: len(v) for k, v in by_kind.items()}
    kinds["in order"] = len(in_order)

    total = len(statements)
    passed = total - len(failures)
    print(
        f"chdb {version}: replayed {total} distinct statements issued on 18.16 ("
        + ", ".join(f"{k} {n}" for k, n in kinds.items())
        + ")"
    )
    for q, err in failures:
        print(f"FAILED on chdb {version}: {err.strip()[:600]}\n    {q[:400]}", file=sys.stderr)
    print(f"chdb: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
