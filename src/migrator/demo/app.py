"""The demo's scoring application: the incident's edge functions, on 127.0.0.1.

    python -m migrator.demo.app --dsn DSN [--port 0] [--traffic 4]

Endpoints (JSON):

- `POST /functions/v1/finalizeAssessment` `{"session_id": ...}` with
  `Authorization: Bearer <service role key>`: score the session and persist it, as
  `persistResultsV3` did: under RLS, with `service_role` claims, into the unified
  `scoring_results` when `WRITE_UNIFIED` is on and into the legacy tables when
  `WRITE_EXPLODED` is on (the default). Answers like the incident's expected response.
- `GET /functions/v1/get-results-by-session?session_id=...`: a session's results, read
  as `READ_SOURCE` says: `legacy`, `unified_first` (unified, else legacy) or `unified`.
- `GET /health`: `{"ok": true, "flags": {...}}`: the flags the application sees.

Flags are read from `migrator.flags` (the default flag store) in the same transaction
as the writes, `FOR SHARE`: a plan's flag flip waits for finalizations in flight, and
every finalization after it sees the new value.

`--traffic N` completes and finalizes N new sessions a second in the background, as
users finishing their assessments would. The service role key comes from
`SERVICE_ROLE_KEY` in the environment (or `--service-key`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import threading
import uuid
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg.types.json import Jsonb

DEFAULT_FLAGS: dict[str, Any] = {
    "WRITE_EXPLODED": True,
    "WRITE_UNIFIED": False,
    "READ_SOURCE": "legacy",
}
FC_VERSION = "v1.2"

LEGACY_PAYLOAD = """
select jsonb_build_object(
    'version', c.scoring_version,
    'profile', jsonb_build_object('session_id', p.session_id, 'type_code', p.type_code,
                                  'confidence', p.confidence,
                                  'results_version', p.results_version),
    'types', (select jsonb_agg(jsonb_build_object('type_code', t.type_code, 'fit', t.fit,
                                                  'share', t.share) order by t.type_code)
              from scoring_results_types t where t.session_id = p.session_id),
    'functions', (select jsonb_agg(jsonb_build_object('func_code', f.func_code,
                                                      'strength', f.strength)
                                   order by f.func_code)
                  from scoring_results_functions f where f.session_id = p.session_id),
    'state', (select jsonb_build_object('overlay_band', st.overlay_band, 'blocks', st.blocks)
              from scoring_results_state st where st.session_id = p.session_id),
    'session', jsonb_build_object('id', s.id, 'status', s.status),
    'results_version', p.results_version)
from profiles p join assessment_sessions s on s.id = p.session_id, scoring_config c
where p.session_id = %(id)s
"""


class Refused(Exception):
    """A request the application answers with an error status."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(type(value))


@dataclass
class ScoringApp:
    dsn: str
    service_key: str
    base_url: str = "http://127.0.0.1"

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn, connect_timeout=5)

    # -- flags ------------------------------------------------------------------------

    def flags(self, conn: psycopg.Connection[Any], *, share: bool) -> dict[str, Any]:
        """The flags in effect; FOR SHARE holds off a flip until this transaction ends."""
        values = dict(DEFAULT_FLAGS)
        row = conn.execute("select to_regclass('migrator.flags') is not null").fetchone()
        if row and row[0]:
            lock = " for share" if share else ""
            rows = conn.execute(
                f"select name, value from migrator.flags where name = any(%(names)s){lock}",
                {"names": list(DEFAULT_FLAGS)},
            ).fetchall()
            values.update({name: value for name, value in rows})
        return values

    def health(self) -> dict[str, Any]:
        with self.connect() as conn:
            return {"ok": True, "flags": self.flags(conn, share=False)}

    # -- finalizeAssessment -----------------------------------------------------------

    def finalize(self, session_id: str) -> dict[str, Any]:
        """Score a completed session and persist it: the incident's finalizeAssessment."""
        try:
            sid = uuid.UUID(session_id)
        except (ValueError, AttributeError, TypeError):
            raise Refused(HTTPStatus.BAD_REQUEST, "session_id: not a uuid") from None
        with self.connect() as conn, conn.transaction():
            flags = self.flags(conn, share=True)
            conn.execute("set local role service_role")
            conn.execute(
                "select set_config('request.jwt.claims', %(c)s, true)",
                {"c": json.dumps({"role": "service_role"})},
            )
            found = conn.execute(
                "update assessment_sessions set status = 'completed', "
                "completed_at = coalesce(completed_at, now()) where id = %(id)s returning id",
                {"id": sid},
            ).fetchone()
            if found is None:
                raise Refused(HTTPStatus.NOT_FOUND, f"session {sid} not found")
            row = conn.execute("select score_session(%(id)s)", {"id": sid}).fetchone()
            payload = row[0] if row else None
            if payload is None:
                raise Refused(HTTPStatus.UNPROCESSABLE_ENTITY, "session has unanswered questions")
            fc = conn.execute(
                "select scores_json from fc_scores where session_id = %(id)s "
                "and version = %(v)s and fc_kind = 'functions'",
                {"id": sid, "v": FC_VERSION},
            ).fetchone()
            log("fc_scores_loaded" if fc else "fc_fallback_legacy", sid, "no_fc_infrastructure")
            if flags["WRITE_UNIFIED"]:
                conn.execute(
                    "insert into scoring_results "
                    "(session_id, payload, type_code, confidence, scoring_version) "
                    "values (%(id)s, %(p)s, %(t)s, %(c)s, %(v)s) on conflict (session_id) do "
                    "update set payload = excluded.payload, type_code = excluded.type_code, "
                    "confidence = excluded.confidence, scoring_version = excluded.scoring_version",
                    {
                        "id": sid,
                        "p": Jsonb(payload),
                        "t": payload["profile"]["type_code"],
                        "c": payload["profile"]["confidence"],
                        "v": payload["version"],
                    },
                )
            token = None
            if flags["WRITE_EXPLODED"]:
                conn.execute("select write_legacy(%(p)s)", {"p": Jsonb(payload)})
                got = conn.execute(
                    "select share_token from profiles where session_id = %(id)s", {"id": sid}
                ).fetchone()
                token = got[0] if got else None
        token = token or uuid.uuid4().hex[:24]
        return {
            "ok": True,
            "status": "success",
            "session_id": str(sid),
            "share_token": token,
            "profile": payload["profile"],
            "results_url": f"{self.base_url}/results/{sid}?t={token}",
        }

    # -- get-results-by-session -------------------------------------------------------

    def results(self, session_id: str) -> dict[str, Any]:
        try:
            sid = uuid.UUID(session_id)
        except (ValueError, AttributeError, TypeError):
            raise Refused(HTTPStatus.BAD_REQUEST, "session_id: not a uuid") from None
        with self.connect() as conn:
            source = self.flags(conn, share=False)["READ_SOURCE"]
            payload = None
            served = None
            if source in ("unified", "unified_first"):
                row = conn.execute(
                    "select payload from scoring_results where session_id = %(id)s", {"id": sid}
                ).fetchone()
                if row:
                    payload, served = row[0], "unified"
                log("unified_cache_hit" if row else "unified_cache_miss", sid, source)
            if payload is None and source in ("legacy", "unified_first"):
                row = conn.execute(LEGACY_PAYLOAD, {"id": sid}).fetchone()
                if row:
                    payload, served = row[0], "legacy"
        if payload is None:
            raise Refused(HTTPStatus.NOT_FOUND, f"no results for session {sid}")
        return {"ok": True, "source": served, "read_source": source, "payload": payload}

    # -- traffic ----------------------------------------------------------------------

    def new_completed_session(self) -> str:
        """A user finishing an assessment: 24 answers, then the session completed."""
        sid = uuid.uuid4()
        rng = random.Random(sid.int)
        with self.connect() as conn, conn.transaction():
            conn.execute(
                "insert into assessment_sessions (id, user_id, status, started_at, completed_at) "
                "values (%(id)s, %(u)s, 'completed', now() - interval '20 minutes', now())",
                {"id": sid, "u": uuid.uuid4()},
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "insert into assessment_responses values (%s, %s, %s)",
                    [(sid, q, rng.randint(1, 5)) for q in range(1, 25)],
                )
        return str(sid)


def log(event: str, session_id: Any, reason: str = "") -> None:
    line = f"evt:{event},session_id:{session_id}" + (f",reason:{reason}" if reason else "")
    print(line, file=sys.stderr, flush=True)


def make_handler(app: ScoringApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: events are logged
            pass

        def _send(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            data = json.dumps(body, default=_json_default).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, work: Any) -> None:
            try:
                self._send(HTTPStatus.OK, work())
            except Refused as refused:
                self._send(refused.status, {"ok": False, "status": "error", "error": str(refused)})
            except psycopg.Error as error:
                message = str(error).splitlines()[0] if str(error) else type(error).__name__
                log("finalize_failed", "-", message)
                self._send(
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                    {"ok": False, "status": "error", "error": message},
                )

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if url.path == "/health":
                self._answer(app.health)
            elif url.path == "/functions/v1/get-results-by-session":
                self._answer(lambda: app.results(query.get("session_id", [""])[0]))
            else:
                self._send(HTTPStatus.NOT_FOUND, {"ok": False, "error": "no such endpoint"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if urlsplit(self.path).path != "/functions/v1/finalizeAssessment":
                self._send(HTTPStatus.NOT_FOUND, {"ok": False, "error": "no such endpoint"})
                return
            if self.headers.get("Authorization") != f"Bearer {app.service_key}":
                self._send(HTTPStatus.UNAUTHORIZED, {"ok": False, "error": "invalid key"})
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._send(HTTPStatus.BAD_REQUEST, {"ok": False, "error": "body: not JSON"})
                return
            session_id = body.get("session_id") if isinstance(body, dict) else None
            self._answer(lambda: app.finalize(str(session_id)))

    return Handler


def traffic(app: ScoringApp, per_second: float, stop: threading.Event) -> None:
    """Users finishing assessments: complete a session, then finalize it."""
    while not stop.wait(1 / per_second):
        try:
            sid = app.new_completed_session()
            app.finalize(sid)
        except (psycopg.Error, Refused) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            log("finalize_failed", "-", message)


def serve(app: ScoringApp, port: int, per_second: float) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(app))
    app.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    stop = threading.Event()
    if per_second > 0:
        threading.Thread(target=traffic, args=(app, per_second, stop), daemon=True).start()
    # The first line on stdout says where to reach it (the demo reads it).
    print(json.dumps({"url": app.base_url, "pid": os.getpid()}), flush=True)
    try:
        server.serve_forever()
    finally:
        stop.set()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="the demo database")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--traffic", type=float, default=0.0, help="sessions finalized per second")
    parser.add_argument("--service-key", default=os.environ.get("SERVICE_ROLE_KEY"))
    args = parser.parse_args(argv)
    if not args.service_key:
        parser.error("set SERVICE_ROLE_KEY or give --service-key")
    with contextlib.suppress(KeyboardInterrupt):
        serve(ScoringApp(args.dsn, args.service_key), args.port, args.traffic)
    return 0


if __name__ == "__main__":
    sys.exit(main())
