"""A customer backend written against Twilio Super SIM, pointed at simledger.

Uses Twilio's official helper library unchanged except for the base URL. Exits non-zero (with
a traceback) on the first thing that does not behave as Twilio's would, and prints one JSON
summary line on success.

Usage: twilio_scenario.py BASE_URL ACCOUNT_SID AUTH_TOKEN ICCID[,ICCID...] REGISTRATION_CODE
"""

import json
import sys
import time

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

base, account_sid, auth_token, iccids, code = sys.argv[1:6]
iccids = iccids.split(",")

client = Client(account_sid, auth_token)
client.supersim.base_url = base
supersim = client.supersim.v1

# A Network Access Profile with two networks (Vodafone UK, EE), and a fleet using it.
networks = supersim.networks.list(iso_country="GB", limit=2)
assert len(networks) == 2, networks
nap = supersim.network_access_profiles.create(unique_name=f"uk-only-{account_sid}", networks=[n.sid for n in networks])
assert nap.sid.startswith("HA"), nap.sid
nap_networks = supersim.network_access_profiles(nap.sid).networks.list()
assert sorted(n.sid for n in nap_networks) == sorted(n.sid for n in networks)

fleet_name = f"trackers-{account_sid}"
fleet = supersim.fleets.create(network_access_profile=nap.sid, unique_name=fleet_name, data_limit=100)
assert fleet.data_limit == 100 and fleet.data_enabled is True, fleet

# Register and activate the SIMs.
sims = []
for iccid in iccids:
    sim = supersim.sims.create(iccid=iccid, registration_code=code)
    assert sim.status == "new" and sim.fleet_sid is None, sim
    sim = supersim.sims(sim.sid).update(fleet=fleet.sid, status="active")
    assert sim.status == "active" and sim.fleet_sid == fleet.sid, sim
    sims.append(sim.sid)

# A documented error comes back as a TwilioRestException with Twilio's code.
try:
    supersim.sims.create(iccid=iccids[0], registration_code=code)
    raise AssertionError("registering a SIM twice must fail")
except TwilioRestException as e:
    assert e.status == 400 and e.code == 83003, (e.status, e.code, e.msg)

# Page through the SIMs two at a time: the library follows meta.next_page_url.
listed = [s.sid for s in supersim.sims.stream(page_size=2)]
assert sorted(listed) == sorted(sims), (listed, sims)
first_page = supersim.sims.page(page_size=2)
assert len(list(first_page)) == 2 and first_page.next_page_url is not None

# Raise the fleet's data limit.
fleet = supersim.fleets(fleet.sid).update(data_limit=500)
assert fleet.data_limit == 500
assert supersim.fleets(fleet_name).fetch().data_limit == 500

# Send an SMS command and wait for the SMSC to deliver it.
command = supersim.sms_commands.create(sim=sims[0], payload="reboot")
# Queued when created; the SMSC may already have taken it by the time the answer is built.
assert command.status in ("queued", "sent", "delivered") and command.direction == "to_sim", command
deadline = time.time() + 20
while supersim.sms_commands(command.sid).fetch().status != "delivered":
    assert time.time() < deadline, "the SMS command was never delivered"
    time.sleep(0.2)
delivered = supersim.sms_commands.list(sim=sims[0], status="delivered")
assert [c.sid for c in delivered] == [command.sid]

print(json.dumps({"nap": nap.sid, "fleet": fleet.sid, "sims": len(sims), "listed": len(listed), "sms": command.sid}))
