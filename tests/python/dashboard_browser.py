"""The dashboard in a real headless Chromium (Debian's), driven by Playwright.

Arguments: base URL, customer SID, customer token, another customer's SID and token, the
screenshot directory, the Chromium binary, an operator's SID and token. Prints one JSON object of what it measured; any
failed check raises, with the reason.
"""

import base64
import json
import sys
import time
import urllib.request
from datetime import datetime

from playwright.sync_api import sync_playwright

base, sid, token, other_sid, other_token, shots, chromium, operator_sid, operator_token = sys.argv[1:10]
results = {}


def v1(path):
    """GET a /v1 resource with the customer's Basic credentials."""
    req = urllib.request.Request(base + path)
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode())
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def api_sim_counts():
    """Every SIM of the account through /v1, counted: (total, active)."""
    total = active = 0
    url = "/v1/Sims?PageSize=100"
    while url:
        page = v1(url)
        total += len(page["sims"])
        active += sum(1 for s in page["sims"] if s["status"] == "active")
        nxt = page["meta"]["next_page_url"]
        url = nxt[len(base):] if nxt else None
    return total, active


def figure(page, testid):
    return int(page.get_by_test_id(testid).inner_text().replace(",", ""))


def wait_for(condition, timeout, what):
    deadline = time.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def shot(page, name):
    page.screenshot(path=f"{shots}/{name}.png", full_page=True)


def sign_in(page, who, secret):
    page.goto(base + "/dashboard")
    page.wait_for_url("**/dashboard/login")
    page.fill("input[name=sid]", who)
    page.fill("input[name=token]", secret)
    page.click("[data-testid=signin]")
    page.wait_for_url("**/dashboard/")


with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path=chromium,
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
    )
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # Sign-in: an HttpOnly, SameSite=Strict session cookie.
    page.goto(base + "/dashboard")
    page.wait_for_url("**/dashboard/login")
    shot(page, "01-sign-in")
    page.fill("input[name=sid]", sid)
    page.fill("input[name=token]", "wrong-token")
    page.click("[data-testid=signin]")
    assert "not valid" in page.get_by_test_id("signin-error").inner_text(), "a wrong token is refused"
    sign_in(page, sid, token)
    cookie = next(c for c in context.cookies() if c["name"] == "simledger_session")
    assert cookie["httpOnly"], cookie
    assert cookie["sameSite"] == "Strict", cookie
    results["cookie"] = {"httpOnly": cookie["httpOnly"], "sameSite": cookie["sameSite"]}
    html = page.content()
    assert token not in html, "the auth token never appears in a page"
    assert cookie["value"] not in html, "the session token never appears in a page"

    # Overview: its counts equal the API's (both read settled projections; retried until
    # the SIMs stop changing between the two reads).
    page.wait_for_selector("[data-testid=sims-total]")

    def counts_agree():
        before = api_sim_counts()
        page.reload()
        page.wait_for_selector("[data-testid=sims-total]")
        shown = (figure(page, "sims-total"), figure(page, "sims-active"))
        after = api_sim_counts()
        return shown if before == after == shown else None

    shown = wait_for(counts_agree, 30, "the overview's SIM counts to equal /v1's")
    results["overview"] = {"sims_total": shown[0], "sims_active": shown[1]}
    page.wait_for_selector("[data-testid=projection-lag] tbody tr")
    shot(page, "02-overview")

    # Live feed: a simulated attach appears within 2 s of its commit.
    page.goto(base + "/dashboard/#/live")
    page.wait_for_selector("[data-testid=feed-status]:has-text('live')")
    row = page.wait_for_selector("[data-testid=events-feed] li.new[data-event-type$='attachment.accepted']", timeout=60000)
    lags = []
    wait_for(lambda: len(page.query_selector_all("[data-testid=events-feed] li.new")) >= 5, 60, "five live events")
    for li in page.query_selector_all("[data-testid=events-feed] li.new"):
        recorded = datetime.fromisoformat(li.get_attribute("data-recorded-at").replace("Z", "+00:00")).timestamp()
        lags.append(int(li.get_attribute("data-received-at")) / 1000 - recorded)
    attach_lag = [
        int(li.get_attribute("data-received-at")) / 1000
        - datetime.fromisoformat(li.get_attribute("data-recorded-at").replace("Z", "+00:00")).timestamp()
        for li in page.query_selector_all("[data-testid=events-feed] li.new[data-event-type$='attachment.accepted']")
    ]
    assert attach_lag and max(attach_lag) < 2.0, f"attaches shown {attach_lag} s after their commit"
    lags.sort()
    results["feed_lag_ms"] = {"max": round(lags[-1] * 1000), "p50": round(lags[len(lags) // 2] * 1000), "n": len(lags)}
    assert row.get_attribute("data-sim-sid").startswith("HS")
    shot(page, "03-live-events")

    # A reconnect misses nothing: pause (the stream closes), let events commit, resume; the
    # feed then holds exactly what the log holds for the account over the whole range.
    first = int(page.query_selector("[data-testid=events-feed] li[data-position]:last-child").get_attribute("data-position"))
    page.click("[data-testid=feed-pause]")
    paused_at = page.evaluate("window.simledgerFeed.last()")
    wait_for(
        lambda: page.request.get(f"{base}/dashboard/api/events?after={paused_at}").json()["events"],
        60,
        "events committed while the feed was paused",
    )
    page.click("[data-testid=feed-pause]")
    head = page.request.get(f"{base}/dashboard/api/events?after={paused_at}").json()["upto"]
    wait_for(lambda: page.evaluate("window.simledgerFeed.last()") >= head, 30, "the resumed feed to catch up")
    last = page.evaluate("window.simledgerFeed.last()")
    shown_positions = sorted(
        int(li.get_attribute("data-position"))
        for li in page.query_selector_all("[data-testid=events-feed] li[data-position]")
        if first <= int(li.get_attribute("data-position")) <= last
    )
    logged = [
        e["position"]
        for e in page.request.get(f"{base}/dashboard/api/events?after={first - 1}&before={last}").json()["events"]
    ]
    assert len(shown_positions) <= 500, "the range fits the feed's list"
    assert shown_positions == logged, f"the feed after a reconnect differs from the log: {shown_positions} vs {logged}"
    results["reconnect"] = {"events_checked": len(logged), "paused_at": paused_at, "resumed_to": last}

    # Usage: the chart renders with data.
    page.goto(base + "/dashboard/#/usage")

    def usage_bars():
        page.reload()
        page.wait_for_selector("svg[data-testid=usage-chart]")
        return page.query_selector_all("svg[data-testid=usage-chart] rect[data-value]")

    wait_for(usage_bars, 120, "the usage chart to show data")
    results["usage_bars"] = len(page.query_selector_all("svg[data-testid=usage-chart] rect[data-value]"))
    shot(page, "04-usage")

    # SIM page: one of the account's SIMs, its history and usage.
    page.goto(base + "/dashboard/#/sims")
    page.wait_for_selector("[data-testid=sims-list] tbody a")
    shot(page, "05-sims")
    own_sim = page.query_selector("[data-testid=sims-list] tbody a").inner_text()
    page.goto(base + f"/dashboard/#/sims/{own_sim}")
    page.wait_for_selector("[data-testid=sim-events] tbody tr")
    page.wait_for_selector("svg[data-testid=usage-chart]")
    shot(page, "06-sim")

    for name, path in [("07-fleets", "fleets"), ("08-billing", "billing"), ("09-exports", "exports")]:
        page.goto(base + f"/dashboard/#/{path}")
        page.wait_for_selector("main table")
        shot(page, name)

    # Sign-out ends the session: the old cookie no longer opens anything.
    page.click("[data-testid=signout]")
    page.wait_for_url("**/dashboard/login")
    stale = page.request.get(f"{base}/dashboard/api/overview", headers={"Cookie": f"simledger_session={cookie['value']}"})
    assert stale.status == 401, f"a signed-out session answered {stale.status}"
    page.goto(base + "/dashboard/")
    page.wait_for_url("**/dashboard/login")
    results["signed_out"] = stale.status

    # Another customer cannot open this account's SIM: "not found", as in the API.
    sign_in(page, other_sid, other_token)
    page.goto(base + f"/dashboard/#/sims/{own_sim}")
    page.wait_for_selector("[data-testid=not-found]")
    results["other_account_sim"] = page.get_by_test_id("not-found").inner_text()
    shot(page, "10-other-account-not-found")
    page.click("[data-testid=signout]")
    page.wait_for_url("**/dashboard/login")

    # An operator sees every account, picks the fleet's, and sees how far each projection is.
    sign_in(page, operator_sid, operator_token)
    picker = page.wait_for_selector("[data-testid=account-picker]")
    assert picker.is_visible(), "the operator's account picker"
    page.select_option("[data-testid=account-picker]", sid)
    page.wait_for_selector("[data-testid=projection-lag] tbody tr td.num")
    wait_for(lambda: figure(page, "sims-total") >= results["overview"]["sims_total"] - 5, 15, "the fleet's SIMs")
    results["operator_projections"] = len(page.query_selector_all("[data-testid=projection-lag] tbody tr"))
    shot(page, "11-operator-overview")
    assert not errors, f"the page raised: {errors}"
    browser.close()

print(json.dumps(results))
