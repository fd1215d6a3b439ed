"""Runs SQL statements on chDB (embedded ClickHouse) for `viewpulse sql compat`.

Usage: run-sql.py SESSION_DIR [CONFIG_FILE] < statements.json
stdin: a JSON list of SQL strings. All run in one chdb Session whose data lives in
SESSION_DIR, so tables created by one statement (or one run) are there for the next.
CONFIG_FILE: a server config the session reads (e.g. <zookeeper> and <macros> for
replicated tables).
stdout: a JSON list, one entry per statement: {"ok": true, "data": "<JSONEachRow text>"}
or {"ok": false, "error": "<message>"}. A failed statement does not stop the others.
"""

import json
import os
import sys

from chdb import session

statements = json.load(sys.stdin)
config = sys.argv[2] if len(sys.argv) > 2 else None
s = session.Session(f"{sys.argv[1]}?config-file={config}" if config else sys.argv[1])
results = []
for statement in statements:
    try:
        res = s.query(statement, "JSONEachRow")
        results.append({"ok": True, "data": res.bytes().decode("utf-8")})
    except Exception as err:  # chdb raises RuntimeError with ClickHouse's message
        results.append({"ok": False, "error": str(err)})
if config is None:
    s.close()
json.dump(results, sys.stdout)
if config is not None:
    # A session with a ZooKeeper aborts while its threads stop at exit (mutex lock failed);
    # the results are out, and nothing of such a session needs to outlive it.
    sys.stdout.flush()
    os._exit(0)
