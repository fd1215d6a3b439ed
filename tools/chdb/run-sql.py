"""Runs SQL statements on chDB (embedded ClickHouse) for `viewpulse sql compat`.

Usage: run-sql.py SESSION_DIR < statements.json
stdin: a JSON list of SQL strings. All run in one chdb Session whose data lives in
SESSION_DIR, so tables created by one statement (or one run) are there for the next.
stdout: a JSON list, one entry per statement: {"ok": true, "data": "<JSONEachRow text>"}
or {"ok": false, "error": "<message>"}. A failed statement does not stop the others.
"""

import json
import sys

from chdb import session

statements = json.load(sys.stdin)
s = session.Session(sys.argv[1])
results = []
for statement in statements:
    try:
        res = s.query(statement, "JSONEachRow")
        results.append({"ok": True, "data": res.bytes().decode("utf-8")})
    except Exception as err:  # chdb raises RuntimeError with ClickHouse's message
        results.append({"ok": False, "error": str(err)})
s.close()
json.dump(results, sys.stdout)
