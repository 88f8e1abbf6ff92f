#!/usr/bin/python3
"""The demo's wait for ingest (scripts/demo-consortium.sh): polls each site's GET /v1/ingest until
its run at start is over, prints what each site indexed, then finds site 1's own heart MR record
(the demo patient's series: site 1's only MR) and writes its LFN to DIR/patient.lfn for the tour's
`dm2 query --lfn`. Usage: demo-wait-ingest.py DIR SITES..."""
import json, os, ssl, sys, time, urllib.request

out, sites = sys.argv[1], [int(s) for s in sys.argv[2:]]


def client(site):
    ctx = ssl.create_default_context(cafile=os.path.join(out, "consortium", "ca.crt"))
    ident = os.path.join(out, "site-%d" % site, "identity")
    ctx.load_cert_chain(os.path.join(ident, "site.crt"), os.path.join(ident, "site.key"))
    return ctx


def get(site, path):
    url = "https://%s.%d:8443%s" % (os.environ.get("DM2_DEMO_NET", "127.0.0"), site, path)
    with urllib.request.urlopen(url, context=client(site), timeout=10) as r:
        return json.load(r)


deadline = time.time() + 600
for site in sites:
    while True:
        try:
            report = get(site, "/v1/ingest")
        except OSError as e:  # not up yet, or refused: try again until the deadline
            report = {"error": str(e)}
        last = report.get("last_run")
        if not report.get("current_run") and last and last.get("state") != "running":
            break
        if time.time() > deadline:
            sys.exit("demo: site-%d did not finish ingesting its PACS in 10 minutes (%s)" % (site, report))
        time.sleep(1)
    counts = last.get("counts", {})
    failed = ", ".join("%s: %s" % (f.get("stage"), f.get("reason")) for f in last.get("failures", []))
    print("demo: site-%d indexed %d series from its PACS (%d unchanged, %d failed%s)" % (
        site, counts.get("series_indexed", 0), counts.get("series_unchanged", 0),
        counts.get("series_failed", 0), ": " + failed if failed else ""))

# Site 1's own records, and among them its heart MR.
after, own = "", []
while True:
    page = get(1, "/v1/overlay/records?limit=1000" + ("&after=" + after if after else ""))
    own += [r["lfn"] for r in page.get("records", []) if r.get("owner") == "site-1"]
    after = page.get("next") or ""
    if not after:
        break
mr = [lfn for lfn in own if get(1, "/v1/records?lfn=" + lfn)["attributes"].get("modality") == "MR"]
if len(mr) != 1:
    sys.exit("demo: expected one heart MR series of site 1, found %d" % len(mr))
with open(os.path.join(out, "patient.lfn"), "w") as f:
    f.write(mr[0] + "\n")
