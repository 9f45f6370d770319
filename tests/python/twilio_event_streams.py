"""A customer's Event Streams code written against Twilio, pointed at simledger.

Twilio's helper library, unchanged but for `client.events.base_url`, creates a webhook sink to a
receiver this script runs itself, tests and validates it, subscribes it, and manages the
subscription's types. Then it waits for the events the caller appends, and checks every request
it received with Twilio's own `RequestValidator`, as a customer's receiver does.

Usage: twilio_event_streams.py BASE_URL ACCOUNT_SID AUTH_TOKEN EXPECTED_EVENTS
Prints `READY <sink> <subscription>` once subscribed, then one JSON summary line.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

base, account_sid, auth_token, expected = sys.argv[1:5]
expected = int(expected)
ENDED = "com.twilio.iot.supersim.connection.data-session.ended"

received = []  # (url, signature, body)
lock = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        url = f"http://{self.headers['Host']}{self.path}"
        with lock:
            received.append((url, self.headers.get("X-Twilio-Signature"), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
hook = f"http://127.0.0.1:{server.server_address[1]}/twilio/events"


def events():
    with lock:
        return [e for (_, _, body) in received for e in json.loads(body)]


def wait_for(what, check, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = check(events())
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; got {len(events())} events")


client = Client(account_sid, auth_token)
client.events.base_url = base
ev = client.events.v1

types = ev.event_types.list(limit=100)
assert ENDED in [t.type for t in types], [t.type for t in types]
assert ev.event_types(ENDED).fetch().schema_id == "SuperSim.ConnectionEvent"
schema = ev.schemas("SuperSim.ConnectionEvent").fetch()
assert schema.latest_version == 2, schema.latest_version
versions = ev.schemas("SuperSim.ConnectionEvent").versions.list()
# Twilio's two, then simledger's 3 (breakout region and PGW), which only a subscription that asks gets.
assert [v.schema_version for v in versions] == [1, 2, 3], versions

# A misconfigured sink is refused the way Twilio refuses it.
try:
    ev.sinks.create(description="bad", sink_configuration={"destination": "ftp://nowhere"}, sink_type="webhook")
    raise AssertionError("a bad sink was accepted")
except TwilioRestException as e:
    assert e.status == 400, e

sink = ev.sinks.create(
    description="fleet events",
    sink_configuration={"destination": hook, "method": "POST", "batch_events": True},
    sink_type="webhook",
)
assert sink.sid.startswith("DG") and sink.status == "initialized", sink
assert ev.sinks(sink.sid).sink_test.create().result == "submitted"
test = wait_for("the test event", lambda es: [e for e in es if e["type"] == "com.twilio.eventstreams.test-event"])
assert test[0]["id"] == account_sid and test[0]["source"] == "Sink", test[0]
assert ev.sinks(sink.sid).sink_validate.create(test_id=test[0]["data"]["test_id"]).result == "valid"
assert ev.sinks(sink.sid).fetch().status == "active"
assert [s.sid for s in ev.sinks.list(status="active")] == [sink.sid]

sub = ev.subscriptions.create(description="sessions", sink_sid=sink.sid, types=[{"type": ENDED}])
assert sub.sid.startswith("DF") and sub.sink_sid == sink.sid, sub
added = ev.subscriptions(sub.sid).subscribed_events.create(type="com.simledger.sms.mt.failed", schema_version=1)
assert added.schema_version == 1, added
assert ev.subscriptions(sub.sid).subscribed_events("com.simledger.sms.mt.failed").update(schema_version=1).schema_version == 1
ev.subscriptions(sub.sid).subscribed_events("com.simledger.sms.mt.failed").delete()
assert [t.type for t in ev.subscriptions(sub.sid).subscribed_events.list()] == [ENDED]
assert ev.subscriptions(sub.sid).update(description="renamed").description == "renamed"
try:
    ev.sinks("DG00000000000000000000000000000000").fetch()
    raise AssertionError("a sink that does not exist was found")
except TwilioRestException as e:
    assert e.status == 404, e

print(f"READY {sink.sid} {sub.sid}", flush=True)
wait_for(f"{expected} sessions", lambda es: len([e for e in es if e["type"] == ENDED]) >= expected, timeout=120)

validator = RequestValidator(auth_token)
with lock:
    requests = list(received)
valid = sum(1 for (url, signature, body) in requests if validator.validate(url, body, signature))
forged = sum(1 for (url, signature, body) in requests if validator.validate(url, body + " ", signature))
ended = [e for e in events() if e["type"] == ENDED]
print(json.dumps({
    "requests": len(requests),
    "valid_signatures": valid,
    "forged_accepted": forged,
    "events": len(ended),
    "unique": len({e["id"] for e in ended}),
    "largest_body": max(len(body.encode()) for (_, _, body) in requests),
    "accounts": sorted({e["data"]["account_sid"] for e in ended}),
}), flush=True)
